"""Automatic application within a bandwidth, a kill switch, and a review queue for everything else.

- `category_policies` gains the auto-apply settings a category may override (`set_category_policy` sets
  whatever columns the table has): `auto_apply_band_pct` (a
  recommendation moving the price by at most this % is applied automatically; 0: none), its
  `auto_apply_min_confidence` and `max_changes_per_day` (per product, counting every price change of the
  last 24 h). A band above the category's max step is refused.
- `pricing_controls`: one row, the global kill switch `auto_apply_enabled`, set through `set_auto_apply`
  (approver role, audited in `policy_changes` with scope `global`).
- `approve_recommendation` also refuses a recommendation whose cycle failed its blocking checks (PA011).
- `auto_apply_cycle(cycle, defaults…)`: run once a cycle's blocking checks have passed (it refuses any
  other cycle); for each of its
  raise/lower recommendations it either applies it through `apply_price_change` (the same audited path as
  an approval, so the price change, its audit row and its outbox row commit together; `approved_by` is
  `auto-apply policy`) or records why not. Every outcome is a row of `auto_apply_outcomes`.
- `recommendation_reviews` and `review_recommendation`: an analyst rejects a recommendation with a note
  (the same move for that product is then neither queued nor applied automatically again) or snoozes its
  product for some hours. `held_by_review` is the one definition of "a review holds this move", used by
  the automatic application and the `review_queue` view the dashboard reads.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE category_policies
    ADD COLUMN auto_apply_band_pct float8 CONSTRAINT "auto_apply_band_pct must be between 0 and 50"
        CHECK (auto_apply_band_pct BETWEEN 0 AND 50),
    ADD COLUMN auto_apply_min_confidence float8
        CONSTRAINT "auto_apply_min_confidence must be between 0 and 1"
        CHECK (auto_apply_min_confidence BETWEEN 0 AND 1),
    ADD COLUMN max_changes_per_day integer CONSTRAINT "max_changes_per_day must be 0 or more"
        CHECK (max_changes_per_day >= 0),
    ADD CONSTRAINT "auto_apply_band_pct must not be above max_step_pct"
        CHECK (auto_apply_band_pct <= max_step_pct);

ALTER TABLE policy_changes DROP CONSTRAINT policy_changes_scope_check;
ALTER TABLE policy_changes ADD CONSTRAINT policy_changes_scope_check
    CHECK (scope IN ('category', 'product', 'global'));

CREATE TABLE pricing_controls (
    singleton           boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    auto_apply_enabled  boolean NOT NULL DEFAULT true,
    updated_by          text,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
INSERT INTO pricing_controls DEFAULT VALUES;

CREATE TABLE auto_apply_outcomes (
    recommendation_id  bigint PRIMARY KEY,
    cycle_id           uuid NOT NULL,
    product_id         text NOT NULL,
    outcome            text NOT NULL CHECK (outcome IN ('applied', 'switched_off', 'no_band', 'outside_band',
                           'low_confidence', 'held_by_review', 'superseded', 'price_moved', 'daily_cap')),
    detail             text NOT NULL,
    decided_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auto_apply_outcomes_by_time ON auto_apply_outcomes (decided_at);

CREATE TABLE recommendation_reviews (
    review_id          bigserial PRIMARY KEY,
    recommendation_id  bigint NOT NULL,
    product_id         text NOT NULL,
    recommendation     text NOT NULL,
    priced_from        numeric(10, 2) NOT NULL,
    recommended_price  numeric(10, 2) NOT NULL,
    decision           text NOT NULL CHECK (decision IN ('rejected', 'snoozed')),
    snoozed_until      timestamptz,
    note               text,
    reviewed_by        text NOT NULL CHECK (btrim(reviewed_by) <> ''),
    reviewed_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((decision = 'snoozed') = (snoozed_until IS NOT NULL))
);
CREATE INDEX recommendation_reviews_by_product ON recommendation_reviews (product_id, reviewed_at DESC);

-- A rejection holds the same move from the same price (a move from another price is a new question).
CREATE FUNCTION held_by_review(p_product_id text, p_recommendation text, p_from numeric, p_price numeric)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $fn$
    SELECT EXISTS (
        SELECT FROM recommendation_reviews
        WHERE product_id = p_product_id
          AND ((decision = 'snoozed' AND snoozed_until > now())
               OR (decision = 'rejected' AND recommendation = p_recommendation
                   AND priced_from = p_from AND recommended_price = p_price))
    )
$fn$;

CREATE FUNCTION set_auto_apply(p_enabled boolean, p_changed_by text, p_note text DEFAULT NULL)
RETURNS SETOF policy_changes
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    was boolean;
    change policy_changes;
BEGIN
    IF p_changed_by IS NULL OR btrim(p_changed_by) = '' THEN
        RAISE EXCEPTION 'a policy change needs the name of the person making it' USING ERRCODE = 'PA101';
    END IF;
    IF p_enabled IS NULL THEN
        RAISE EXCEPTION 'say whether automatic application is on (true) or off (false)'
            USING ERRCODE = 'PA104';
    END IF;
    SELECT auto_apply_enabled INTO was FROM pricing_controls FOR UPDATE;
    UPDATE pricing_controls SET auto_apply_enabled = p_enabled, updated_by = btrim(p_changed_by),
        updated_at = now();
    IF was IS DISTINCT FROM p_enabled THEN
        INSERT INTO policy_changes (scope, subject, setting, old_value, new_value, changed_by, note)
        VALUES ('global', 'all categories', 'auto_apply_enabled', to_jsonb(was), to_jsonb(p_enabled),
                btrim(p_changed_by), p_note)
        RETURNING * INTO change;
        RETURN NEXT change;
    END IF;
END
$fn$;

CREATE FUNCTION review_recommendation(
    p_recommendation_id bigint, p_decision text, p_reviewed_by text, p_note text DEFAULT NULL,
    p_snooze_hours float8 DEFAULT NULL
)
RETURNS recommendation_reviews
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    rec pricing_recommendations;
    review recommendation_reviews;
BEGIN
    IF p_reviewed_by IS NULL OR btrim(p_reviewed_by) = '' THEN
        RAISE EXCEPTION 'a review needs the name of the analyst making it' USING ERRCODE = 'PA101';
    END IF;
    IF p_decision IS NULL OR p_decision NOT IN ('rejected', 'snoozed') THEN
        RAISE EXCEPTION 'unknown review decision "%"; known: rejected, snoozed', p_decision
            USING ERRCODE = 'PA104';
    END IF;
    IF p_decision = 'snoozed' AND (p_snooze_hours IS NULL OR p_snooze_hours <= 0 OR p_snooze_hours > 720) THEN
        RAISE EXCEPTION 'a snooze lasts more than 0 and at most 720 hours, got %', p_snooze_hours
            USING ERRCODE = 'PA106';
    END IF;
    IF p_decision = 'rejected' AND (p_note IS NULL OR btrim(p_note) = '') THEN
        RAISE EXCEPTION 'a rejection needs a note saying why' USING ERRCODE = 'PA101';
    END IF;
    SELECT * INTO rec FROM pricing_recommendations WHERE recommendation_id = p_recommendation_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'recommendation % does not exist', p_recommendation_id USING ERRCODE = 'PA002';
    END IF;
    IF rec.recommendation = 'hold' THEN
        RAISE EXCEPTION 'recommendation % for % is hold: there is nothing to review', p_recommendation_id,
            rec.product_id USING ERRCODE = 'PA003';
    END IF;
    IF EXISTS (SELECT FROM price_changes WHERE recommendation_id = p_recommendation_id) THEN
        RAISE EXCEPTION 'recommendation % was already applied', p_recommendation_id USING ERRCODE = 'PA004';
    END IF;
    INSERT INTO recommendation_reviews (recommendation_id, product_id, recommendation, priced_from,
                                        recommended_price, decision, snoozed_until, note, reviewed_by)
    VALUES (p_recommendation_id, rec.product_id, rec.recommendation, rec.current_price,
            rec.recommended_price, p_decision,
            CASE WHEN p_decision = 'snoozed' THEN now() + make_interval(secs => p_snooze_hours * 3600) END,
            nullif(btrim(p_note), ''), btrim(p_reviewed_by))
    RETURNING * INTO review;
    RETURN review;
END
$fn$;

-- 0007's approval, refusing a recommendation whose cycle failed its blocking checks as well.
CREATE OR REPLACE FUNCTION approve_recommendation(
    p_recommendation_id bigint, p_approved_by text, p_note text DEFAULT NULL
)
RETURNS price_changes
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    rec pricing_recommendations;
    newest pricing_recommendations;
    price numeric(10, 2);
    failed text[];
BEGIN
    IF p_approved_by IS NULL OR btrim(p_approved_by) = '' THEN
        RAISE EXCEPTION 'approval needs the name of the analyst approving it' USING ERRCODE = 'PA001';
    END IF;
    SELECT * INTO rec FROM pricing_recommendations WHERE recommendation_id = p_recommendation_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'recommendation % does not exist', p_recommendation_id USING ERRCODE = 'PA002';
    END IF;
    IF rec.recommendation = 'hold' THEN
        RAISE EXCEPTION 'recommendation % for % is hold: there is no price change to approve',
            p_recommendation_id, rec.product_id USING ERRCODE = 'PA003';
    END IF;
    SELECT failed_checks INTO failed FROM pricing_cycle_checks WHERE cycle_id = rec.cycle_id AND NOT passed;
    IF FOUND THEN
        RAISE EXCEPTION 'recommendation % comes from a cycle that failed its checks (%): it is withheld',
            p_recommendation_id, array_to_string(failed, ', ') USING ERRCODE = 'PA011';
    END IF;
    -- Serialises approvals of one product: everything below sees the other's outcome.
    SELECT current_price INTO price FROM products WHERE product_id = rec.product_id FOR UPDATE;
    IF EXISTS (SELECT FROM price_changes WHERE recommendation_id = p_recommendation_id) THEN
        RAISE EXCEPTION 'recommendation % was already approved', p_recommendation_id USING ERRCODE = 'PA004';
    END IF;
    IF price <> rec.current_price THEN
        RAISE EXCEPTION 'the price of % is % now, not the % that recommendation % started from',
            rec.product_id, price, rec.current_price, p_recommendation_id USING ERRCODE = 'PA005';
    END IF;
    SELECT * INTO newest FROM pricing_recommendations WHERE product_id = rec.product_id
    ORDER BY created_at DESC, recommendation_id DESC LIMIT 1;
    IF newest.recommendation_id <> rec.recommendation_id
       AND (newest.recommendation <> rec.recommendation
            OR newest.recommended_price <> rec.recommended_price) THEN
        RAISE EXCEPTION 'recommendation % is superseded: the engine now says % at % for %',
            p_recommendation_id, newest.recommendation, newest.recommended_price, rec.product_id
            USING ERRCODE = 'PA006';
    END IF;
    RETURN apply_price_change(
        rec.product_id, rec.recommended_price, p_approved_by, rec.reason, p_recommendation_id, p_note
    );
END
$fn$;

CREATE FUNCTION auto_apply_cycle(
    p_cycle_id uuid, p_band_pct float8, p_min_confidence float8, p_max_changes_per_day integer
)
RETURNS SETOF auto_apply_outcomes
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $fn$
DECLARE
    enabled boolean;
    r record;
    price_now numeric(10, 2);
    changes_today integer;
    verdict text;
    detail text;
    result auto_apply_outcomes;
BEGIN
    IF NOT EXISTS (SELECT FROM pricing_cycle_checks WHERE cycle_id = p_cycle_id AND passed) THEN
        RAISE EXCEPTION 'cycle % has not passed its checks: nothing of it is applied automatically',
            p_cycle_id USING ERRCODE = 'PA012';
    END IF;
    -- FOR SHARE: a stop (set_auto_apply) waits for an application under way, so "stopped" is true when
    -- it returns.
    SELECT auto_apply_enabled INTO enabled FROM pricing_controls FOR SHARE;
    FOR r IN
        SELECT pr.recommendation_id, pr.product_id, pr.recommendation, pr.current_price, pr.recommended_price,
               pr.confidence, pr.reason, pr.created_at, p.category,
               coalesce(cp.auto_apply_band_pct, p_band_pct) AS band,
               coalesce(cp.auto_apply_min_confidence, p_min_confidence) AS min_confidence,
               coalesce(cp.max_changes_per_day, p_max_changes_per_day) AS daily_cap,
               -- to the hundredth: a full max-step move (999.99 → 899.99 is 10.0001 %) fits a band of 10
               round(abs(pr.recommended_price - pr.current_price) / pr.current_price * 100, 2) AS change_pct
        FROM pricing_recommendations pr
        JOIN products p USING (product_id)
        LEFT JOIN category_policies cp ON cp.category = p.category
        WHERE pr.cycle_id = p_cycle_id AND pr.recommendation <> 'hold'
          AND NOT EXISTS (SELECT FROM auto_apply_outcomes o WHERE o.recommendation_id = pr.recommendation_id)
        ORDER BY pr.product_id
    LOOP
        -- Locks the product as an approval does: a concurrent approval and this wait for each other.
        SELECT current_price INTO price_now FROM products WHERE product_id = r.product_id FOR UPDATE;
        IF NOT coalesce(enabled, false) THEN
            verdict := 'switched_off';
            detail := 'automatic application is switched off for all categories';
        ELSIF r.band <= 0 THEN
            verdict := 'no_band';
            detail := format('%s applies nothing automatically (auto_apply_band_pct 0)', r.category);
        ELSIF r.change_pct > r.band THEN
            verdict := 'outside_band';
            detail := format('a %s %% move is outside the ±%s %% band of %s', round(r.change_pct, 1),
                             r.band, r.category);
        ELSIF r.confidence < r.min_confidence THEN
            verdict := 'low_confidence';
            detail := format('confidence %s is below the %s required in %s', r.confidence, r.min_confidence,
                             r.category);
        ELSIF held_by_review(r.product_id, r.recommendation, r.current_price, r.recommended_price) THEN
            verdict := 'held_by_review';
            detail := 'an analyst rejected this move or snoozed the product';
        ELSIF EXISTS (SELECT FROM pricing_recommendations n WHERE n.product_id = r.product_id
                      AND n.created_at > r.created_at
                      AND (n.recommendation <> r.recommendation
                           OR n.recommended_price <> r.recommended_price)) THEN
            -- As approvals treat it: a newer cycle that agrees does not supersede.
            verdict := 'superseded';
            detail := 'a newer cycle recommends something else for this product';
        ELSIF price_now <> r.current_price
              OR EXISTS (SELECT FROM price_changes c WHERE c.recommendation_id = r.recommendation_id) THEN
            verdict := 'price_moved';
            detail := format('the price is %s now, not the %s this recommendation started from', price_now,
                             r.current_price);
        ELSE
            SELECT count(*) INTO changes_today FROM price_changes
            WHERE product_id = r.product_id AND approved_at > now() - interval '24 hours';
            IF changes_today >= r.daily_cap THEN
                verdict := 'daily_cap';
                detail := format('%s price changes in the last 24 h reach the cap of %s', changes_today,
                                 r.daily_cap);
            ELSE
                verdict := 'applied';
                detail := format('a %s %% move within the ±%s %% band, confidence %s ≥ %s (%s)',
                                 round(r.change_pct, 1), r.band, r.confidence, r.min_confidence, r.category);
                PERFORM apply_price_change(r.product_id, r.recommended_price, 'auto-apply policy', r.reason,
                                           r.recommendation_id, detail);
            END IF;
        END IF;
        INSERT INTO auto_apply_outcomes (recommendation_id, cycle_id, product_id, outcome, detail)
        VALUES (r.recommendation_id, p_cycle_id, r.product_id, verdict, detail)
        RETURNING * INTO result;
        RETURN NEXT result;
    END LOOP;
END
$fn$;

-- What waits for an analyst: each product's latest raise/lower not applied, not held by a review and not
-- from a cycle whose checks failed, with why it was not applied automatically (once its cycle passed).
CREATE VIEW review_queue AS
SELECT r.recommendation_id, r.product_id, r.recommendation, r.current_price, r.recommended_price,
       r.confidence, r.reason, r.created_at, o.outcome AS auto_apply_outcome, o.detail AS auto_apply_detail
FROM pricing_recommendations_latest r
LEFT JOIN auto_apply_outcomes o USING (recommendation_id)
LEFT JOIN pricing_cycle_checks k ON k.cycle_id = r.cycle_id
WHERE r.recommendation <> 'hold'
  AND NOT EXISTS (SELECT FROM price_changes c WHERE c.recommendation_id = r.recommendation_id)
  AND coalesce(k.passed, true)
  AND NOT held_by_review(r.product_id, r.recommendation, r.current_price, r.recommended_price);

REVOKE ALL ON FUNCTION set_auto_apply(boolean, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION review_recommendation(bigint, text, text, text, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION auto_apply_cycle(uuid, float8, float8, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_auto_apply(boolean, text, text) TO pricing_approver;
GRANT EXECUTE ON FUNCTION review_recommendation(bigint, text, text, text, float8) TO pricing_approver;
GRANT SELECT ON pricing_controls, auto_apply_outcomes, recommendation_reviews, review_queue
    TO pricing_dashboard;
"""

DOWNGRADE = """
DROP VIEW review_queue;
DROP FUNCTION auto_apply_cycle(uuid, float8, float8, integer);
DROP FUNCTION review_recommendation(bigint, text, text, text, float8);
DROP FUNCTION set_auto_apply(boolean, text, text);
DROP FUNCTION held_by_review(text, text, numeric, numeric);
DROP TABLE recommendation_reviews;
DROP TABLE auto_apply_outcomes;
DROP TABLE pricing_controls;
DELETE FROM policy_changes WHERE scope = 'global';
ALTER TABLE policy_changes DROP CONSTRAINT policy_changes_scope_check;
ALTER TABLE policy_changes ADD CONSTRAINT policy_changes_scope_check CHECK (scope IN ('category', 'product'));
ALTER TABLE category_policies DROP COLUMN auto_apply_band_pct, DROP COLUMN auto_apply_min_confidence,
    DROP COLUMN max_changes_per_day;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
