"""The README's two set-up commands stay true: .ci/run runs the same install and test commands."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)[:2]


def test_readme_starts_with_main_job_and_test_commands():
    main_job, tests = readme_commands()
    assert "pip install" in main_job and "detbench report" in main_job
    assert "pip install" in tests and "pytest" in tests


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    _, tests = readme_commands()
    for part in tests.split("&&"):
        part = part.strip()
        assert part in ci, f".ci/run does not run the README's `{part}`"
    main_job, _ = readme_commands()
    job = main_job.split("&&")[-1].strip()
    assert job.split()[0] + " " + job.split()[1] in ci


def test_asv_sequence_saves_results_publishes_offline_and_compares_two_commits():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Benchmarks \(asv\)\n\n```bash\n(.*?)\n```", text, flags=re.S).group(1)
    run = next(line for line in block.splitlines() if "asv run " in line)
    assert "--python=same" in run and "--set-commit-hash=" in run  # without it asv saves nothing
    assert "asv publish" in block and "scripts/asv_offline.py" in block
    assert (ROOT / "scripts" / "asv_offline.py").is_file()
    cont = next(line for line in block.splitlines() if "asv continuous " in line)
    base, head = cont.split("asv continuous ")[1].split()[:2]
    assert base != head and "main" not in (base, head)  # `main HEAD` on main compares a commit with itself
