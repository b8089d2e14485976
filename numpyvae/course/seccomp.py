"""A seccomp filter for the runner: the system calls a gradient never needs, refused.

bubblewrap installs it (`--seccomp FD`) on the runner and everything it starts. It is a deny
list, in classic BPF, for x86-64 only (elsewhere `program()` returns None and the sandbox runs
without it): new namespaces (`unshare`, `setns`, `clone` with a CLONE_NEW* flag, `clone3`,
which glibc then replaces by `clone`), mounting, ptrace and reading other processes' memory,
BPF, userfaultfd, perf events, io_uring, kernel keys and modules; and the 32-bit and x32 system
call tables, through which a filter could be walked around. These are the kernel's less
trodden paths that an exploit would take from an unprivileged process; nothing a notebook's
NumPy code does uses them (a refused call fails with EPERM, and `clone3` with ENOSYS).
"""

from __future__ import annotations

import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_BIT = 0x40000000
CLONE_NEW_FLAGS = (
    0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
)
EPERM, ENOSYS = 1, 38
RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
LD_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|..|K, BPF_RET|K

# x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl)
DENIED_X86_64 = {
    "ptrace": 101,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "finit_module": 313,
    "bpf": 321,
    "userfaultfd": 323,
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "init_module": 175,
    "delete_module": 176,
    "acct": 163,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
}
CLONE, CLONE3 = 56, 435


def program() -> bytes | None:
    """The filter as bytes of `struct sock_filter`, or None off x86-64."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    # (code, jump if true, jump if false, k); a jump names a label, resolved below.
    code: list[tuple] = [
        (LD_ABS, None, None, 4),  # seccomp_data.arch
        (JEQ, "nr", "kill", AUDIT_ARCH_X86_64),
        ("label", "nr"),
        (LD_ABS, None, None, 0),  # seccomp_data.nr
        (JGE, "deny", None, X32_BIT),
        *[(JEQ, "deny", None, nr) for nr in sorted(DENIED_X86_64.values())],
        (JEQ, "enosys", None, CLONE3),
        (JEQ, "clone", None, CLONE),
        (RET, None, None, RET_ALLOW),
        ("label", "clone"),
        (LD_ABS, None, None, 16),  # seccomp_data.args[0], its low 32 bits: clone's flags
        (JSET, "deny", None, CLONE_NEW_FLAGS),
        (RET, None, None, RET_ALLOW),
        ("label", "deny"),
        (RET, None, None, RET_ERRNO | EPERM),
        ("label", "enosys"),
        (RET, None, None, RET_ERRNO | ENOSYS),
        ("label", "kill"),
        (RET, None, None, RET_KILL_PROCESS),
    ]
    labels, instructions = {}, []
    for item in code:
        if item[0] == "label":
            labels[item[1]] = len(instructions)
        else:
            instructions.append(item)
    out = b""
    for i, (op, true, false, k) in enumerate(instructions):
        jt = labels[true] - i - 1 if true else 0
        jf = labels[false] - i - 1 if false else 0
        out += struct.pack("<HBBI", op, jt, jf, k)
    return out
