"""The zone's memory decision (neutral_zone/memlock.py) on fake /proc/swaps and /sys trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from neutral_zone import memlock
from protocols.errors import ConfigError

HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"


def host(
    root: Path,
    swaps: list[tuple[str, str]],
    dm: dict[str, tuple[str, str]] | None = None,
    zram: dict[str, str | None] | None = None,
) -> Path:
    """A fake host: /proc/swaps lines (path, type); dm-N -> (name, uuid); zramN -> backing_dev."""
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "swaps").write_text(
        HEADER + "".join(f"{p}\t{t}\t\t8388604\t\t0\t\t-2\n" for p, t in swaps)
    )
    for dev, (name, uuid) in (dm or {}).items():
        d = root / "sys" / "block" / dev / "dm"
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "uuid").write_text(uuid + "\n")
    for dev, backing in (zram or {}).items():
        d = root / "sys" / "block" / dev
        d.mkdir(parents=True)
        if backing is not None:
            (d / "backing_dev").write_text(backing + "\n")
    return root


def test_no_swap_at_all(tmp_path: Path) -> None:
    root = host(tmp_path, [])
    assert memlock.active_swaps(root) == []
    d = memlock.decide(False, "mlockall: EPERM", memlock.active_swaps(root), allow_swap=False)
    assert d.case == "no_swap" and "not locked" in d.message and "no swap" in d.message and not d.locked


def test_missing_proc_swaps_is_no_swap(tmp_path: Path) -> None:
    assert memlock.active_swaps(tmp_path) == []


def test_dm_crypt_partition_is_safe_by_dm_name_and_by_mapper_name(tmp_path: Path) -> None:
    root = host(
        tmp_path,
        [("/dev/dm-1", "partition"), ("/dev/mapper/cryptswap2", "partition")],
        dm={
            "dm-1": ("cryptswap", "CRYPT-PLAIN-cryptswap"),
            "dm-2": ("cryptswap2", "CRYPT-LUKS2-abc-cryptswap2"),
        },
    )
    swaps = memlock.active_swaps(root)
    assert [(s.path, s.protection) for s in swaps] == [
        ("/dev/dm-1", "dm-crypt"),
        ("/dev/mapper/cryptswap2", "dm-crypt"),
    ]
    d = memlock.decide(False, "RLIMIT_MEMLOCK is 8388608 bytes", swaps, allow_swap=False)
    assert d.case == "swap_safe" and "encrypted" in d.message


def test_plain_device_mapper_partition_is_not_encrypted(tmp_path: Path) -> None:
    """An LVM volume is device-mapper too, but not dm-crypt: its uuid starts with LVM-."""
    root = host(tmp_path, [("/dev/dm-0", "partition")], dm={"dm-0": ("vg-swap", "LVM-abcdef")})
    [s] = memlock.active_swaps(root)
    assert s.protection == "none" and not s.safe


def test_zram_is_ram_unless_it_writes_back_to_a_device(tmp_path: Path) -> None:
    root = host(
        tmp_path,
        [("/dev/zram0", "partition"), ("/dev/zram1", "partition")],
        zram={"zram0": "none", "zram1": "/dev/sdb2"},
    )
    assert [s.protection for s in memlock.active_swaps(root)] == ["ram", "none"]


def test_unencrypted_swap_refuses_with_the_device_and_the_remedies(tmp_path: Path) -> None:
    root = host(tmp_path, [("/swap\\040file", "file"), ("/dev/sda2", "partition")])
    swaps = memlock.active_swaps(root)
    assert [s.path for s in swaps] == ["/swap file", "/dev/sda2"]  # octal escapes undone
    with pytest.raises(ConfigError) as err:
        memlock.decide(False, "mlockall: ENOMEM", swaps, allow_swap=False)
    msg = str(err.value)
    for needle in (
        "refuses to start",
        "mlockall: ENOMEM",
        "/swap file (file)",
        "/dev/sda2 (partition)",
        "CAP_IPC_LOCK",
        "allow_swap: true",
    ):
        assert needle in msg, (needle, msg)


def test_one_unencrypted_device_among_encrypted_ones_still_refuses(tmp_path: Path) -> None:
    root = host(
        tmp_path, [("/dev/dm-1", "partition"), ("/swapfile", "file")], dm={"dm-1": ("c", "CRYPT-PLAIN-c")}
    )
    with pytest.raises(ConfigError, match="/swapfile"):
        memlock.decide(False, "x", memlock.active_swaps(root), allow_swap=False)


def test_allow_swap_starts_loudly(tmp_path: Path) -> None:
    root = host(tmp_path, [("/swapfile", "file")])
    d = memlock.decide(False, "mlockall: EPERM", memlock.active_swaps(root), allow_swap=True)
    assert d.case == "swap_allowed" and "NOT locked" in d.message and "allow_swap: true" in d.message


def test_locked_memory_needs_no_swap_check(tmp_path: Path) -> None:
    root = host(tmp_path, [("/swapfile", "file")])
    d = memlock.decide(True, "", memlock.active_swaps(root), allow_swap=False)
    assert d.case == "locked" and d.locked


def test_protect_reads_the_test_root_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The hook only moves where /proc/swaps and /sys are read; locking is what this process can do."""
    root = host(tmp_path, [("/swapfile", "file")])
    monkeypatch.setattr(memlock, "lock_all", lambda: (False, "mlockall: EPERM"))
    with pytest.raises(ConfigError, match="/swapfile"):
        memlock.protect(False, env={memlock.SWAP_ROOT_ENV: str(root)})
    assert "test hook" in caplog.text
    assert memlock.protect(True, env={memlock.SWAP_ROOT_ENV: str(root)}).case == "swap_allowed"
