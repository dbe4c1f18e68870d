"""The migrations form one line: branches written in parallel must be renumbered when they meet, or
`upgrade head` refuses to run on every database."""

import re

from alembic.script import ScriptDirectory

from pricing_platform.db.migrate import alembic_config


def test_migrations_have_one_head_and_file_names_match_their_revisions() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("postgresql://unused"))
    assert len(scripts.get_heads()) == 1, f"several heads: {scripts.get_heads()}"
    revisions = list(scripts.walk_revisions())
    for revision in revisions:
        number = re.match(r"(\d{4})_", revision.path.rsplit("/", 1)[-1])
        assert number and number.group(1) == revision.revision, revision.path
    # Each number once, in order, each revising the one before.
    numbers = sorted(int(r.revision) for r in revisions)
    assert numbers == list(range(1, len(numbers) + 1))
    for revision in revisions:
        if revision.down_revision is not None:
            assert int(str(revision.down_revision)) == int(revision.revision) - 1, revision.path
