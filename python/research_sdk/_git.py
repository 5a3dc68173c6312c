"""`log_code_snapshot("git_diff")`: commit, branch, remote, dirty flag, `git diff HEAD`, untracked."""
from __future__ import annotations

import os
import re
import subprocess
from typing import Any, Dict, List, Optional

MAX_DIFF_CHARS = 20_000_000
MAX_UNTRACKED = 100_000


class NotAGitRepo(Exception):
    pass


def _git(args: List[str], cwd: str, check: bool = True) -> Optional[str]:
    try:
        p = subprocess.run(["git", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60, env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    except FileNotFoundError:
        raise NotAGitRepo("git is not installed") from None
    except subprocess.TimeoutExpired:
        return None
    if p.returncode != 0:
        if check:
            raise NotAGitRepo(p.stderr.decode("utf-8", "replace").strip() or "not a git repository")
        return None
    return p.stdout.decode("utf-8", "replace")


def strip_credentials(url: Optional[str]) -> Optional[str]:
    """https://user:token@host/x.git → https://host/x.git (never ship a token to the server)."""
    if not url:
        return url
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@", r"\1", url.strip())


def snapshot(path: Optional[str] = None) -> Dict[str, Any]:
    cwd = os.path.abspath(path or os.getcwd())
    if not os.path.isdir(cwd):
        cwd = os.path.dirname(cwd)
    top = _git(["rev-parse", "--show-toplevel"], cwd).strip()
    commit = (_git(["rev-parse", "--verify", "-q", "HEAD"], top, check=False) or "").strip() or None
    branch = (_git(["rev-parse", "--abbrev-ref", "HEAD"], top, check=False) or "").strip() or None
    if branch == "HEAD":  # detached
        branch = None
    remote = (_git(["config", "--get", "remote.origin.url"], top, check=False) or "").strip() or None
    if commit:
        diff = _git(["-c", "core.quotepath=off", "diff", "HEAD", "--no-color", "--no-ext-diff", "--binary"],
                    top, check=False) or ""
    else:  # no commit yet: what is staged
        diff = _git(["diff", "--cached", "--no-color", "--no-ext-diff"], top, check=False) or ""
    if len(diff) > MAX_DIFF_CHARS:
        note = f"\n# research_sdk: diff truncated at {MAX_DIFF_CHARS} of {len(diff)} characters\n"
        diff = diff[: MAX_DIFF_CHARS - len(note)] + note
    untracked_out = _git(["-c", "core.quotepath=off", "ls-files", "--others", "--exclude-standard"],
                         top, check=False) or ""
    untracked = [u for u in untracked_out.splitlines() if u][:MAX_UNTRACKED]
    return {
        "commit": commit,
        "branch": branch,
        "remote_url": strip_credentials(remote),
        "dirty": bool(diff.strip()),
        "diff": diff,
        "untracked": untracked,
    }
