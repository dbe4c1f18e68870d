"""What `up` hands the process manager: a restarted market is the same market, the durable broker starts
through its storage repair, and the groups stop in the reverse of their start order."""

from pathlib import Path

from pricing_platform.core.settings import Settings
from pricing_platform.localstack import stack
from pricing_platform.localstack.supervisor import Supervisor
from pricing_platform.simulators.run import producer_config


def _programs(state: Path) -> dict[str, list[str]]:
    settings = Settings(_env_file=None, local_state_dir=state)  # type: ignore[call-arg]
    return {p.name: p.command for p in stack.programs(settings)}


def test_the_market_keeps_its_seed_across_restarts(tmp_path: Path) -> None:
    first, second = _programs(tmp_path)["simulators"], _programs(tmp_path)["simulators"]
    seed = first[first.index("--seed") + 1]
    assert second[second.index("--seed") + 1] == seed
    other = _programs(tmp_path / "elsewhere")["simulators"]
    assert other[other.index("--seed") + 1] != seed  # drawn, not a constant (1 in 2**31 to collide)


def test_the_durable_broker_starts_through_its_storage_repair(tmp_path: Path) -> None:
    assert _programs(tmp_path)["broker"][-2:] == ["topics", "broker"]


def test_groups_stop_in_reverse_start_order(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, local_state_dir=tmp_path)  # type: ignore[call-arg]
    supervisor = Supervisor(tmp_path)
    supervisor.write_config(stack.programs(settings), [stack.STORAGE, stack.INFRA, stack.PIPELINE])
    config = supervisor.config_path.read_text()
    priorities = {
        group: int(config.split(f"[group:{group}]", 1)[1].split("priority = ", 1)[1].split()[0])
        for group in (stack.STORAGE, stack.INFRA, stack.PIPELINE)
    }
    # supervisord starts low priorities first and stops high ones first.
    assert priorities[stack.STORAGE] < priorities[stack.INFRA] < priorities[stack.PIPELINE]


def test_the_market_produces_without_idempotence_on_the_durable_broker(tmp_path: Path) -> None:
    # Across a SIGKILL the durable broker acknowledged idempotent retries it never stored (README).
    settings = Settings(_env_file=None, local_state_dir=tmp_path)  # type: ignore[call-arg]
    market = next(p for p in stack.programs(settings) if p.name == "simulators")
    seen = Settings(_env_file=None, **{k.lower(): v for k, v in market.environment.items()})  # type: ignore[arg-type]
    assert producer_config(seen)["enable.idempotence"] is False
    assert producer_config(seen)["max.in.flight.requests.per.connection"] == 1  # retries keep the order
