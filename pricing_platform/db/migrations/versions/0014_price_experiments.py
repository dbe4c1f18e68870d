"""Price experiments: time-split (switchback) A/B tests on a product or a category.

- `price_experiments`: one row per experiment — its subject (a product or a category), arm B's change
  from the control price, block length, planned start and end, the stopping rule's harm threshold and
  status (`running` until its planned end, `finished`, or `stopped` early by a person or the stopping
  rule).
- `price_experiment_arms`: each product's two prices (control A = its price when the experiment was
  created, test B), `price_experiment_blocks`: the randomised schedule of arms in time (planned in
  pricing/experiments.py, balanced across hours of the day: `pair_no` links the A and B block of one
  hour slot).
- `create_experiment` (approver role): refuses, with the reason, an arm outside the hard guardrails (at
  or below unit cost, outside the product's min/max price), a control that is not the current price, a
  product already in a running experiment, a schedule that does not tile the experiment exactly. The
  policy's guardrails (min margin, max step, price ending) are checked by pricing/experiments.py, which
  knows the environment's defaults.
- `experiment_block_stats(experiment, until)`: the per-block views, units, revenue and gross profit at
  each block's arm price that the results page, the stopping rule and the benchmark analyse (the
  dashboard's reader role may run it; it may not read the event table).
- `run_experiments(now)`: run by the platform (a sensor live, each step in simulated time); sets each
  running experiment's products to the arm of the block containing `now` through `apply_price_change`
  (audit row and outbox row in one transaction, `price_changes.experiment_id` set), and at the planned
  end puts them back to the control price and marks the experiment finished. `stop_experiment` (approver
  role) does the same early, with the reason.
- Precedence: while an experiment runs, its arms win. `approve_recommendation` refuses its products
  (PA013), `auto_apply_cycle` records `in_experiment` for them, the review queue leaves them out, and the
  daily cap counts no experiment switch.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

import importlib.util
import re
from pathlib import Path

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE price_experiments (
    experiment_id    bigserial PRIMARY KEY,
    name             text NOT NULL CONSTRAINT "an experiment needs a name" CHECK (btrim(name) <> ''),
    scope            text NOT NULL CHECK (scope IN ('product', 'category')),
    subject          text NOT NULL,
    arm_b_pct        float8 NOT NULL CONSTRAINT "arm B must change the price" CHECK (arm_b_pct <> 0),
    block_minutes    integer NOT NULL
        CONSTRAINT "block_minutes must divide a day and be 15 to 720 minutes"
        CHECK (block_minutes BETWEEN 15 AND 720 AND 1440 % block_minutes = 0),
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    harm_stop_pct    float8 NOT NULL CONSTRAINT "harm_stop_pct must be between 0 and 100"
        CHECK (harm_stop_pct BETWEEN 0 AND 100),
    status           text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished', 'stopped')),
    ended_at         timestamptz,
    stopped_by       text,
    stopped_reason   text,
    created_by       text NOT NULL CHECK (btrim(created_by) <> ''),
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "an experiment ends after it starts" CHECK (ends_at > starts_at),
    CHECK ((status = 'running') = (ended_at IS NULL))
);
CREATE INDEX price_experiments_running ON price_experiments (status) WHERE status = 'running';

CREATE TABLE price_experiment_arms (
    experiment_id  bigint NOT NULL REFERENCES price_experiments,
    product_id     text NOT NULL REFERENCES products,
    control_price  numeric(10, 2) NOT NULL CHECK (control_price > 0),
    test_price     numeric(10, 2) NOT NULL CHECK (test_price > 0),
    PRIMARY KEY (experiment_id, product_id),
    CHECK (test_price <> control_price)
);
CREATE INDEX price_experiment_arms_by_product ON price_experiment_arms (product_id);

CREATE TABLE price_experiment_blocks (
    experiment_id  bigint NOT NULL REFERENCES price_experiments,
    block_start    timestamptz NOT NULL,
    block_end      timestamptz NOT NULL,
    arm            text NOT NULL CHECK (arm IN ('A', 'B')),
    pair_no        integer NOT NULL,
    PRIMARY KEY (experiment_id, block_start),
    CHECK (block_end > block_start)
);

ALTER TABLE price_changes ADD COLUMN experiment_id bigint REFERENCES price_experiments;

ALTER TABLE auto_apply_outcomes DROP CONSTRAINT auto_apply_outcomes_outcome_check;
ALTER TABLE auto_apply_outcomes ADD CONSTRAINT auto_apply_outcomes_outcome_check
    CHECK (outcome IN ('applied', 'switched_off', 'no_band', 'outside_band', 'low_confidence',
                       'held_by_review', 'superseded', 'price_moved', 'daily_cap', 'in_experiment'));
"""

FUNCTIONS = """
-- The running experiment a product is in, if any (one at most: create_experiment refuses overlaps).
CREATE FUNCTION running_experiment_of(p_product_id text)
RETURNS price_experiments
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $fn$
    SELECT e.* FROM price_experiments e JOIN price_experiment_arms a USING (experiment_id)
    WHERE a.product_id = p_product_id AND e.status = 'running'
    LIMIT 1
$fn$;

-- Sets every product of an experiment to an arm's price (those not there already); the changes carry
-- the experiment's id, which keeps them out of the daily cap. Returns the changes made.
CREATE FUNCTION experiment_apply_arm(p_experiment_id bigint, p_arm text, p_reason text)
RETURNS SETOF price_changes
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $fn$
DECLARE
    a price_experiment_arms;
    target numeric(10, 2);
    price_now numeric(10, 2);
    change price_changes;
BEGIN
    FOR a IN SELECT * FROM price_experiment_arms WHERE experiment_id = p_experiment_id ORDER BY product_id
    LOOP
        target := CASE p_arm WHEN 'A' THEN a.control_price ELSE a.test_price END;
        SELECT current_price INTO price_now FROM products WHERE product_id = a.product_id FOR UPDATE;
        IF price_now <> target THEN
            change := apply_price_change(a.product_id, target, format('experiment %s', p_experiment_id),
                                         p_reason);
            UPDATE price_changes SET experiment_id = p_experiment_id
            WHERE price_change_id = change.price_change_id
            RETURNING * INTO change;
            RETURN NEXT change;
        END IF;
    END LOOP;
END
$fn$;

CREATE FUNCTION create_experiment(
    p_name text, p_scope text, p_subject text, p_arm_b_pct float8, p_block_minutes integer,
    p_starts_at timestamptz, p_ends_at timestamptz, p_harm_stop_pct float8, p_created_by text,
    p_product_ids text[], p_control_prices numeric[], p_test_prices numeric[],
    p_block_starts timestamptz[], p_block_arms text[], p_block_pairs integer[]
)
RETURNS price_experiments
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    expected text[];
    p record;
    other price_experiments;
    e price_experiments;
    n integer := coalesce(array_length(p_product_ids, 1), 0);
    blocks integer := coalesce(array_length(p_block_starts, 1), 0);
BEGIN
    IF p_created_by IS NULL OR btrim(p_created_by) = '' THEN
        RAISE EXCEPTION 'an experiment needs the name of the person starting it' USING ERRCODE = 'PA201';
    END IF;
    IF p_name IS NULL OR btrim(p_name) = '' THEN
        RAISE EXCEPTION 'an experiment needs a name' USING ERRCODE = 'PA201';
    END IF;
    IF p_scope = 'product' THEN
        SELECT array_agg(product_id) INTO expected FROM products WHERE product_id = p_subject;
    ELSIF p_scope = 'category' THEN
        SELECT array_agg(product_id ORDER BY product_id) INTO expected FROM products
        WHERE category = p_subject;
    ELSE
        RAISE EXCEPTION 'an experiment is on a product or a category, not "%"', p_scope
            USING ERRCODE = 'PA202';
    END IF;
    IF expected IS NULL THEN
        RAISE EXCEPTION 'no % "%" exists', p_scope, p_subject USING ERRCODE = 'PA203';
    END IF;
    IF n <> coalesce(array_length(p_control_prices, 1), 0) OR n <> coalesce(array_length(p_test_prices, 1), 0)
       OR (SELECT array_agg(x ORDER BY x) FROM unnest(p_product_ids) x) IS DISTINCT FROM
          (SELECT array_agg(x ORDER BY x) FROM unnest(expected) x) THEN
        RAISE EXCEPTION 'the arms must give two prices for each product of % "%" (%), got %',
            p_scope, p_subject, array_to_string(expected, ', '), array_to_string(p_product_ids, ', ')
            USING ERRCODE = 'PA204';
    END IF;
    IF blocks = 0 OR blocks <> coalesce(array_length(p_block_arms, 1), 0)
       OR blocks <> coalesce(array_length(p_block_pairs, 1), 0)
       OR p_block_starts[1] <> p_starts_at
       OR blocks * p_block_minutes * 60 <> extract(epoch FROM p_ends_at - p_starts_at)
       OR EXISTS (SELECT FROM unnest(p_block_starts) s
                  WHERE s < p_starts_at
                     OR extract(epoch FROM s - p_starts_at)::bigint % (p_block_minutes * 60) <> 0)
       OR EXISTS (SELECT FROM unnest(p_block_arms) a WHERE a IS NULL OR a NOT IN ('A', 'B')) THEN
        RAISE EXCEPTION 'the schedule must have one arm (A or B) and pair for each block, the blocks '
            'starting at % and tiling the experiment',
            p_starts_at USING ERRCODE = 'PA210';
    END IF;
    -- Locked in a fixed order: a concurrent approval or experiment on these products waits for this one.
    FOR p IN
        SELECT pr.product_id, pr.current_price, pr.unit_cost, pr.min_price, pr.max_price,
               x.control_price, x.test_price
        FROM unnest(p_product_ids, p_control_prices, p_test_prices)
             AS x(product_id, control_price, test_price)
        JOIN products pr USING (product_id)
        ORDER BY pr.product_id
        FOR UPDATE OF pr
    LOOP
        other := running_experiment_of(p.product_id);
        IF other.experiment_id IS NOT NULL THEN
            RAISE EXCEPTION '% is already in running experiment % ("%") until %: one experiment per product '
                'at a time, so stop that one first or wait for it to end', p.product_id, other.experiment_id,
                other.name, other.ends_at USING ERRCODE = 'PA209';
        END IF;
        IF p.control_price IS DISTINCT FROM p.current_price THEN
            RAISE EXCEPTION 'the price of % is % now, not the % this experiment was planned from',
                p.product_id, p.current_price, p.control_price USING ERRCODE = 'PA205';
        END IF;
        IF p.test_price IS NULL OR p.test_price = p.control_price THEN
            RAISE EXCEPTION 'arm B of % must differ from its control price %', p.product_id, p.control_price
                USING ERRCODE = 'PA206';
        END IF;
        IF least(p.test_price, p.control_price) <= p.unit_cost THEN
            RAISE EXCEPTION 'an arm of % at % is not above its unit cost %', p.product_id,
                least(p.test_price, p.control_price), p.unit_cost USING ERRCODE = 'PA207';
        END IF;
        IF (p.min_price IS NOT NULL AND least(p.test_price, p.control_price) < p.min_price)
           OR (p.max_price IS NOT NULL AND greatest(p.test_price, p.control_price) > p.max_price) THEN
            RAISE EXCEPTION 'an arm of % (% or %) is outside its price bounds (% to %)', p.product_id,
                p.control_price, p.test_price, coalesce(p.min_price::text, 'no minimum'),
                coalesce(p.max_price::text, 'no maximum')
                USING ERRCODE = 'PA208';
        END IF;
    END LOOP;
    INSERT INTO price_experiments (name, scope, subject, arm_b_pct, block_minutes, starts_at, ends_at,
                                   harm_stop_pct, created_by)
    VALUES (btrim(p_name), p_scope, p_subject, p_arm_b_pct, p_block_minutes, p_starts_at, p_ends_at,
            p_harm_stop_pct, btrim(p_created_by))
    RETURNING * INTO e;
    INSERT INTO price_experiment_arms (experiment_id, product_id, control_price, test_price)
    SELECT e.experiment_id, x.product_id, x.control_price, x.test_price
    FROM unnest(p_product_ids, p_control_prices, p_test_prices) AS x(product_id, control_price, test_price);
    INSERT INTO price_experiment_blocks (experiment_id, block_start, block_end, arm, pair_no)
    SELECT e.experiment_id, s, s + make_interval(mins => p_block_minutes), a, k
    FROM unnest(p_block_starts, p_block_arms, p_block_pairs) AS b(s, a, k);
    IF (SELECT max(block_end) FROM price_experiment_blocks WHERE experiment_id = e.experiment_id)
       <> p_ends_at THEN
        RAISE EXCEPTION 'the schedule''s blocks must end at the planned end %', p_ends_at
            USING ERRCODE = 'PA210';
    END IF;
    RETURN e;
END
$fn$;

-- Per block begun before p_until (and before the experiment ended): the views that showed the block's arm
-- price, their purchases, revenue and gross profit; the views left out because the shop still showed the
-- other price (just after a switch); and Σ ln(test / control) over the counted views (the arms' price
-- ratio, view-weighted over a category's products). One scan of the experiment's time window; the
-- dashboard's reader role may run it without reading the event table itself.
CREATE FUNCTION experiment_block_stats(p_experiment_id bigint, p_until timestamptz DEFAULT now())
RETURNS TABLE (arm text, pair_no integer, views bigint, units bigint, revenue float8, profit float8,
               views_other bigint, log_ratio_sum float8, block_start timestamptz)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
    WITH e AS (
        SELECT experiment_id, starts_at, block_minutes,
               least(ends_at, coalesce(ended_at, ends_at), p_until) AS until
        FROM price_experiments WHERE experiment_id = p_experiment_id
    ), b AS (
        SELECT k.arm, k.pair_no, k.block_start, a.product_id, a.control_price, a.test_price, p.unit_cost,
               CASE k.arm WHEN 'A' THEN a.control_price ELSE a.test_price END AS price
        FROM e
        JOIN price_experiment_blocks k USING (experiment_id)
        JOIN price_experiment_arms a USING (experiment_id)
        JOIN products p USING (product_id)
        WHERE k.block_start < e.until
    ), c AS (
        -- Blocks tile the experiment from its start (create_experiment checks), so an event's block is
        -- arithmetic: an equality join instead of a range join per block.
        SELECT ev.product_id, ev.event_type, ev.product_price,
               e.starts_at + make_interval(mins => e.block_minutes
                   * floor(extract(epoch FROM ev.event_time - e.starts_at) / 60 / e.block_minutes)::int)
                   AS block_start
        FROM e
        JOIN clickstream_events ev ON ev.event_time >= e.starts_at AND ev.event_time < e.until
        WHERE ev.event_type IN ('product_view', 'purchase')
          AND ev.product_id IN (SELECT x.product_id FROM price_experiment_arms x
                                WHERE x.experiment_id = p_experiment_id)
    )
    SELECT b.arm, b.pair_no,
           count(*) FILTER (WHERE c.event_type = 'product_view' AND c.product_price = b.price),
           count(*) FILTER (WHERE c.event_type = 'purchase' AND c.product_price = b.price),
           coalesce(sum(c.product_price) FILTER (WHERE c.event_type = 'purchase'
                                                 AND c.product_price = b.price), 0)::float8,
           coalesce(sum(c.product_price - b.unit_cost) FILTER (WHERE c.event_type = 'purchase'
                                                              AND c.product_price = b.price), 0)::float8,
           count(*) FILTER (WHERE c.event_type = 'product_view' AND c.product_price <> b.price),
           coalesce(sum(ln(b.test_price / b.control_price))
                     FILTER (WHERE c.event_type = 'product_view' AND c.product_price = b.price), 0)::float8,
           b.block_start
    FROM b
    LEFT JOIN c ON c.product_id = b.product_id AND c.block_start = b.block_start
    GROUP BY b.arm, b.pair_no, b.block_start
    ORDER BY b.block_start
$fn$;

-- Every running experiment, as of p_now: its products at the arm of the block containing p_now, or,
-- at its planned end, back at the control price and the experiment finished. Idempotent. An experiment
-- whose arm the product's price bounds no longer allow (an approver narrowed them since) is stopped with
-- that reason, alone: the others carry on.
CREATE FUNCTION run_experiments(p_now timestamptz DEFAULT now())
RETURNS SETOF price_changes
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $fn$
DECLARE
    e price_experiments;
    b price_experiment_blocks;
    made price_changes[];
    change price_changes;
BEGIN
    -- Every product any due experiment may switch, locked first and in product order, the order
    -- automatic application and create_experiment lock in: no deadlock between them.
    PERFORM 1 FROM products
    WHERE product_id IN (SELECT a.product_id
                         FROM price_experiment_arms a JOIN price_experiments x USING (experiment_id)
                         WHERE x.status = 'running' AND x.starts_at <= p_now)
    ORDER BY product_id
    FOR UPDATE;
    FOR e IN SELECT * FROM price_experiments WHERE status = 'running' AND starts_at <= p_now
             ORDER BY experiment_id FOR UPDATE
    LOOP
        made := '{}';
        BEGIN
            IF p_now >= e.ends_at THEN
                SELECT coalesce(array_agg(x), '{}') INTO made FROM experiment_apply_arm(
                    e.experiment_id, 'A',
                    format('experiment "%s" finished: back to the control price', e.name)
                ) x;
                UPDATE price_experiments SET status = 'finished', ended_at = p_now
                WHERE experiment_id = e.experiment_id;
            ELSE
                SELECT * INTO b FROM price_experiment_blocks
                WHERE experiment_id = e.experiment_id AND block_start <= p_now AND p_now < block_end;
                IF FOUND THEN
                    SELECT coalesce(array_agg(x), '{}') INTO made FROM experiment_apply_arm(
                        e.experiment_id, b.arm,
                        format('experiment "%s": arm %s from %s', e.name, b.arm,
                               to_char(b.block_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'))
                    ) x;
                END IF;
            END IF;
        EXCEPTION WHEN SQLSTATE 'PA010' THEN
            made := '{}';
            UPDATE price_experiments
            SET status = 'stopped', ended_at = p_now, stopped_by = 'run_experiments',
                stopped_reason = format('an arm is outside the price bounds set since: %s', SQLERRM)
            WHERE experiment_id = e.experiment_id;
        END;
        FOREACH change IN ARRAY made LOOP
            RETURN NEXT change;
        END LOOP;
    END LOOP;
END
$fn$;

CREATE FUNCTION stop_experiment(
    p_experiment_id bigint, p_stopped_by text, p_reason text, p_at timestamptz DEFAULT NULL
)
RETURNS price_experiments
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    e price_experiments;
BEGIN
    IF p_stopped_by IS NULL OR btrim(p_stopped_by) = '' THEN
        RAISE EXCEPTION 'stopping an experiment needs the name of the person stopping it'
            USING ERRCODE = 'PA201';
    END IF;
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'stopping an experiment early needs a reason' USING ERRCODE = 'PA201';
    END IF;
    SELECT * INTO e FROM price_experiments WHERE experiment_id = p_experiment_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment % does not exist', p_experiment_id USING ERRCODE = 'PA203';
    END IF;
    IF e.status <> 'running' THEN
        RAISE EXCEPTION 'experiment % ("%") is % already', p_experiment_id, e.name, e.status
            USING ERRCODE = 'PA211';
    END IF;
    PERFORM experiment_apply_arm(
        p_experiment_id, 'A', format('experiment "%s" stopped: back to the control price', e.name));
    UPDATE price_experiments
    -- p_at is the stopping rule's clock in simulated time; never later than now.
    SET status = 'stopped', ended_at = least(coalesce(p_at, now()), now()),
        stopped_by = btrim(p_stopped_by),
        stopped_reason = btrim(p_reason)
    WHERE experiment_id = p_experiment_id
    RETURNING * INTO e;
    RETURN e;
END
$fn$;
"""

# 0012's approval with one more guard: a product in a running experiment is priced by its arms.
APPROVAL_GUARD = """
    -- Serialises approvals of one product: everything below sees the other's outcome.
    SELECT current_price INTO price FROM products WHERE product_id = rec.product_id FOR UPDATE;
    experiment := running_experiment_of(rec.product_id);
    IF experiment.experiment_id IS NOT NULL THEN
        RAISE EXCEPTION '% is in price experiment % ("%") until %: its arms set its price while it runs; '
            'stop the experiment to price it otherwise', rec.product_id, experiment.experiment_id,
            experiment.name, experiment.ends_at USING ERRCODE = 'PA013';
    END IF;"""

AUTO_APPLY_GUARD = """        IF NOT coalesce(enabled, false) THEN
            verdict := 'switched_off';
            detail := 'automatic application is switched off for all categories';
        ELSIF (running_experiment_of(r.product_id)).experiment_id IS NOT NULL THEN
            verdict := 'in_experiment';
            detail := format('in price experiment %s: its arms set the price while it runs',
                             (running_experiment_of(r.product_id)).experiment_id);"""

REVIEW_QUEUE_GUARD = """  AND (running_experiment_of(r.product_id)).experiment_id IS NULL
  AND NOT held_by_review"""

GRANTS = """
REVOKE ALL ON FUNCTION create_experiment(text, text, text, float8, integer, timestamptz, timestamptz, float8,
    text, text[], numeric[], numeric[], timestamptz[], text[], integer[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION stop_experiment(bigint, text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION run_experiments(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION experiment_apply_arm(bigint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION experiment_block_stats(bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION experiment_block_stats(bigint, timestamptz) TO pricing_dashboard;
GRANT EXECUTE ON FUNCTION create_experiment(text, text, text, float8, integer, timestamptz, timestamptz,
    float8, text, text[], numeric[], numeric[], timestamptz[], text[], integer[]) TO pricing_approver;
GRANT EXECUTE ON FUNCTION stop_experiment(bigint, text, text, timestamptz) TO pricing_approver;
GRANT SELECT ON price_experiments, price_experiment_arms, price_experiment_blocks TO pricing_dashboard;
"""


def _previous(text: str, starts: str, ends: str) -> str:
    """The statement of `text` from `starts` through the first `ends` after it."""
    begin = text.index(starts)
    return text[begin : text.index(ends, begin) + len(ends)]


def _revision_0012() -> str:
    spec = importlib.util.spec_from_file_location("m0012", Path(__file__).with_name("0012_auto_apply.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.UPGRADE)


def _statements_0012() -> tuple[str, str, str]:
    old = _revision_0012()
    approve = _previous(old, "CREATE OR REPLACE FUNCTION approve_recommendation(", "$fn$;")
    auto_apply = _previous(old, "CREATE FUNCTION auto_apply_cycle(", "$fn$;")
    queue = _previous(old, "CREATE VIEW review_queue AS", ";\n")
    return approve, auto_apply, queue


def _guarded(statement: str, anchor: str, replacement: str) -> str:
    if statement.count(anchor) != 1:
        raise RuntimeError(f"migration 0014: expected one {anchor!r} in 0012's statement")
    return statement.replace(anchor, replacement)


def upgrade() -> None:
    approve, auto_apply, queue = _statements_0012()
    op.execute(TABLES)
    op.execute(FUNCTIONS)
    approve = _guarded(
        approve, "    failed text[];\n", "    failed text[];\n    experiment price_experiments;\n"
    )
    lock = (
        "\n    -- Serialises approvals of one product: everything below sees the other's outcome.\n"
        "    SELECT current_price INTO price FROM products WHERE product_id = rec.product_id FOR UPDATE;"
    )
    op.execute(_guarded(approve, lock, APPROVAL_GUARD))
    auto_apply = _guarded(
        auto_apply,
        "        IF NOT coalesce(enabled, false) THEN\n"
        "            verdict := 'switched_off';\n"
        "            detail := 'automatic application is switched off for all categories';",
        AUTO_APPLY_GUARD,
    )
    auto_apply = _guarded(
        auto_apply,
        "WHERE product_id = r.product_id AND approved_at > now() - interval '24 hours';",
        "WHERE product_id = r.product_id AND approved_at > now() - interval '24 hours'\n"
        "              AND experiment_id IS NULL;",
    )
    op.execute(auto_apply.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    queue = _guarded(queue, "  AND NOT held_by_review", REVIEW_QUEUE_GUARD)
    op.execute(re.sub(r"^CREATE VIEW", "CREATE OR REPLACE VIEW", queue))
    op.execute(GRANTS)


def downgrade() -> None:
    approve, auto_apply, queue = _statements_0012()
    op.execute(approve)
    op.execute(auto_apply.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute(re.sub(r"^CREATE VIEW", "CREATE OR REPLACE VIEW", queue))
    op.execute(
        """
        DROP FUNCTION stop_experiment(bigint, text, text, timestamptz);
        DROP FUNCTION run_experiments(timestamptz);
        DROP FUNCTION create_experiment(text, text, text, float8, integer, timestamptz, timestamptz, float8,
            text, text[], numeric[], numeric[], timestamptz[], text[], integer[]);
        DROP FUNCTION experiment_apply_arm(bigint, text, text);
        DROP FUNCTION experiment_block_stats(bigint, timestamptz);
        DROP FUNCTION running_experiment_of(text);
        DELETE FROM auto_apply_outcomes WHERE outcome = 'in_experiment';
        ALTER TABLE auto_apply_outcomes DROP CONSTRAINT auto_apply_outcomes_outcome_check;
        ALTER TABLE auto_apply_outcomes ADD CONSTRAINT auto_apply_outcomes_outcome_check
            CHECK (outcome IN ('applied', 'switched_off', 'no_band', 'outside_band', 'low_confidence',
                               'held_by_review', 'superseded', 'price_moved', 'daily_cap'));
        ALTER TABLE price_changes DROP COLUMN experiment_id;
        DROP TABLE price_experiment_blocks;
        DROP TABLE price_experiment_arms;
        DROP TABLE price_experiments;
        """
    )
