"""Pricing policy per category, edited without a redeploy; each cycle's decision inputs kept for the preview.

- `category_policies`: a category's strategy and thresholds. A NULL column means "the environment's
  default" (PRICING_*), so a row only carries what an analyst changed. The columns are exactly the settings
  a category may override (`pricing/policy.py` names them; a test compares); their CHECK constraints are
  named as the sentence a refusal shows.
- `policy_changes`: the audit trail, one row per setting changed (old and new value as JSON, null for the
  default), for categories and for product price bounds alike.
- `set_category_policy` and `set_price_bounds`: SECURITY DEFINER functions that only `pricing_approver`
  may call, as with approvals. Refusals are SQLSTATE class PA (PA101 no name, PA102 unknown category,
  PA103 unknown or no setting, PA104 wrong type, PA105 unknown strategy, PA106 a value out of range or a
  minimum above a maximum, PA107 unknown product); `dashboard/policies.py` maps the class to a refusal.
- `pricing_cycle_inputs`: what a cycle decided from (the per-product inputs of both strategies, the
  environment's rules and the category policies in force), stored at most every
  PRICING_INPUTS_STORE_INTERVAL_S, so the dashboard, whose role cannot read events, can re-run the same
  decision code on them with an edited policy. The newest few are kept.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE category_policies (
    category            text PRIMARY KEY,
    strategy            text CONSTRAINT "strategy must be rules or profit"
                            CHECK (strategy IN ('rules', 'profit')),
    lower_gap_pct       float8 CONSTRAINT "lower_gap_pct must be above 0" CHECK (lower_gap_pct > 0),
    lower_max_velocity  integer CONSTRAINT "lower_max_velocity must be 0 or more"
                            CHECK (lower_max_velocity >= 0),
    raise_gap_pct       float8 CONSTRAINT "raise_gap_pct must be above 0" CHECK (raise_gap_pct > 0),
    raise_min_velocity  integer CONSTRAINT "raise_min_velocity must be 0 or more"
                            CHECK (raise_min_velocity >= 0),
    target_factor       float8 CONSTRAINT "target_factor must be between 0.5 and 1.5"
                            CHECK (target_factor BETWEEN 0.5 AND 1.5),
    min_margin_pct      float8 CONSTRAINT "min_margin_pct must be between 0 and 500"
                            CHECK (min_margin_pct BETWEEN 0 AND 500),
    max_step_pct        float8 CONSTRAINT "max_step_pct must be above 0 and at most 50"
                            CHECK (max_step_pct > 0 AND max_step_pct <= 50),
    min_gain_pct        float8 CONSTRAINT "min_gain_pct must be 0 or more" CHECK (min_gain_pct >= 0),
    lead_time_h         float8 CONSTRAINT "lead_time_h must be above 0" CHECK (lead_time_h > 0),
    overstock_days      float8 CONSTRAINT "overstock_days must be above 0" CHECK (overstock_days > 0),
    updated_by          text NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE policy_changes (
    policy_change_id  bigserial PRIMARY KEY,
    scope             text NOT NULL CHECK (scope IN ('category', 'product')),
    subject           text NOT NULL,
    setting           text NOT NULL,
    old_value         jsonb,
    new_value         jsonb,
    changed_by        text NOT NULL,
    changed_at        timestamptz NOT NULL DEFAULT now(),
    note              text
);
CREATE INDEX policy_changes_by_subject ON policy_changes (scope, subject, changed_at DESC);

CREATE TABLE pricing_cycle_inputs (
    cycle_id    uuid PRIMARY KEY,
    priced_at   timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    inputs      json NOT NULL
);
CREATE INDEX pricing_cycle_inputs_newest ON pricing_cycle_inputs (created_at DESC);

CREATE FUNCTION set_category_policy(
    p_category text, p_settings jsonb, p_changed_by text, p_note text DEFAULT NULL
)
RETURNS SETOF policy_changes
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    known text[];
    unknown text[];
    old_row category_policies;
    new_row category_policies;
    setting text;
    violated text;
    columns text;
    change policy_changes;
BEGIN
    IF p_changed_by IS NULL OR btrim(p_changed_by) = '' THEN
        RAISE EXCEPTION 'a policy change needs the name of the person making it' USING ERRCODE = 'PA101';
    END IF;
    IF NOT EXISTS (SELECT FROM products WHERE category = p_category) THEN
        RAISE EXCEPTION 'category % does not exist; the catalog has %', p_category,
            (SELECT string_agg(DISTINCT category, ', ') FROM products) USING ERRCODE = 'PA102';
    END IF;
    SELECT array_agg(attname::text ORDER BY attnum) INTO known
    FROM pg_attribute
    WHERE attrelid = 'category_policies'::regclass AND attnum > 0 AND NOT attisdropped
      AND attname NOT IN ('category', 'updated_by', 'updated_at');
    IF p_settings IS NULL OR jsonb_typeof(p_settings) <> 'object' OR p_settings = '{}'::jsonb THEN
        RAISE EXCEPTION 'no setting to change: pass {"setting": value, ...} (null: the default); settings: %',
            array_to_string(known, ', ') USING ERRCODE = 'PA103';
    END IF;
    SELECT array_agg(k ORDER BY k) INTO unknown FROM jsonb_object_keys(p_settings) k WHERE k <> ALL (known);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown setting %; a category may set %', array_to_string(unknown, ', '),
            array_to_string(known, ', ') USING ERRCODE = 'PA103';
    END IF;
    IF jsonb_typeof(p_settings -> 'strategy') NOT IN ('null')
       AND p_settings ->> 'strategy' NOT IN ('rules', 'profit') THEN
        RAISE EXCEPTION 'unknown strategy "%" for %; known: rules, profit', p_settings ->> 'strategy',
            p_category USING ERRCODE = 'PA105';
    END IF;

    -- The row exists from here on and is locked: concurrent edits of one category apply one after the other.
    INSERT INTO category_policies (category, updated_by) VALUES (p_category, btrim(p_changed_by))
    ON CONFLICT (category) DO NOTHING;
    SELECT * INTO old_row FROM category_policies WHERE category = p_category FOR UPDATE;
    new_row := old_row;
    FOREACH setting IN ARRAY ARRAY(SELECT jsonb_object_keys(p_settings)) LOOP
        IF jsonb_typeof(p_settings -> setting) NOT IN ('null', CASE WHEN setting = 'strategy' THEN 'string'
                                                                    ELSE 'number' END) THEN
            RAISE EXCEPTION '% must be %, not %', setting,
                CASE WHEN setting = 'strategy' THEN 'a strategy name' ELSE 'a number' END,
                p_settings -> setting USING ERRCODE = 'PA104';
        END IF;
        BEGIN
            new_row := jsonb_populate_record(new_row, jsonb_build_object(setting, p_settings -> setting));
        EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
            RAISE EXCEPTION '% must be a whole number, not %', setting, p_settings -> setting
                USING ERRCODE = 'PA104';
        END;
    END LOOP;
    new_row.updated_by := btrim(p_changed_by);
    new_row.updated_at := now();
    -- Every column but the key, whatever columns later migrations add: no new function per setting.
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columns
    FROM pg_attribute
    WHERE attrelid = 'category_policies'::regclass AND attnum > 0 AND NOT attisdropped
      AND attname <> 'category';
    BEGIN
        EXECUTE format(
            'UPDATE category_policies SET (%s) = '
            '(SELECT %s FROM jsonb_populate_record(NULL::category_policies, $1)) WHERE category = $2',
            columns, columns
        ) USING to_jsonb(new_row), p_category;
    EXCEPTION WHEN check_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
        RAISE EXCEPTION 'refused for %: %', p_category, violated USING ERRCODE = 'PA106';
    END;
    FOREACH setting IN ARRAY ARRAY(SELECT jsonb_object_keys(p_settings) ORDER BY 1) LOOP
        IF (to_jsonb(old_row) -> setting) IS DISTINCT FROM (to_jsonb(new_row) -> setting) THEN
            INSERT INTO policy_changes (scope, subject, setting, old_value, new_value, changed_by, note)
            VALUES ('category', p_category, setting, nullif(to_jsonb(old_row) -> setting, 'null'::jsonb),
                    nullif(to_jsonb(new_row) -> setting, 'null'::jsonb), btrim(p_changed_by), p_note)
            RETURNING * INTO change;
            RETURN NEXT change;
        END IF;
    END LOOP;
END
$fn$;

CREATE FUNCTION set_price_bounds(
    p_product_id text, p_min_price numeric, p_max_price numeric, p_changed_by text, p_note text DEFAULT NULL
)
RETURNS SETOF policy_changes
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    old_min numeric(10, 2);
    old_max numeric(10, 2);
    change policy_changes;
BEGIN
    IF p_changed_by IS NULL OR btrim(p_changed_by) = '' THEN
        RAISE EXCEPTION 'a policy change needs the name of the person making it' USING ERRCODE = 'PA101';
    END IF;
    SELECT min_price, max_price INTO old_min, old_max
    FROM products WHERE product_id = p_product_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'product % does not exist', p_product_id USING ERRCODE = 'PA107';
    END IF;
    IF p_min_price <= 0 OR p_max_price <= 0 THEN
        RAISE EXCEPTION 'price bounds of % must be positive (or empty for none), got % and %', p_product_id,
            p_min_price, p_max_price USING ERRCODE = 'PA106';
    END IF;
    IF p_min_price > p_max_price THEN
        RAISE EXCEPTION 'the minimum price % of % is above its maximum price %', p_min_price, p_product_id,
            p_max_price USING ERRCODE = 'PA106';
    END IF;
    UPDATE products SET min_price = p_min_price, max_price = p_max_price, updated_at = now()
    WHERE product_id = p_product_id;
    IF old_min IS DISTINCT FROM p_min_price::numeric(10, 2) THEN
        INSERT INTO policy_changes (scope, subject, setting, old_value, new_value, changed_by, note)
        VALUES ('product', p_product_id, 'min_price', to_jsonb(old_min),
                to_jsonb(p_min_price::numeric(10, 2)), btrim(p_changed_by), p_note)
        RETURNING * INTO change;
        RETURN NEXT change;
    END IF;
    IF old_max IS DISTINCT FROM p_max_price::numeric(10, 2) THEN
        INSERT INTO policy_changes (scope, subject, setting, old_value, new_value, changed_by, note)
        VALUES ('product', p_product_id, 'max_price', to_jsonb(old_max),
                to_jsonb(p_max_price::numeric(10, 2)), btrim(p_changed_by), p_note)
        RETURNING * INTO change;
        RETURN NEXT change;
    END IF;
END
$fn$;

REVOKE ALL ON FUNCTION set_category_policy(text, jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION set_price_bounds(text, numeric, numeric, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_category_policy(text, jsonb, text, text) TO pricing_approver;
GRANT EXECUTE ON FUNCTION set_price_bounds(text, numeric, numeric, text, text) TO pricing_approver;
GRANT SELECT ON category_policies, policy_changes, pricing_cycle_inputs TO pricing_dashboard;
"""

DOWNGRADE = """
DROP FUNCTION set_price_bounds(text, numeric, numeric, text, text);
DROP FUNCTION set_category_policy(text, jsonb, text, text);
DROP TABLE pricing_cycle_inputs;
DROP TABLE policy_changes;
DROP TABLE category_policies;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
