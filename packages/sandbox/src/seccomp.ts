/**
 * The seccomp filter every bubblewrap instance runs under: a classic-BPF program bwrap loads
 * (`--seccomp FD`) right before it execs the runtime, so the runtime and everything it starts are
 * filtered. It refuses what a function never needs (tracing other processes, kernel keyrings, eBPF,
 * io_uring, mounts and namespaces, modules, …) and allows the rest: a denylist, so Node, Python and
 * whatever a custom runtime's `bootstrap` starts keep working.
 *
 * There is no maintained library for this in npm and no libseccomp CLI in Debian, so the program is
 * built here. Numbers come from the kernel's tables (uapi `asm/unistd_64.h` for x86_64, the generic
 * `asm-generic/unistd.h` that arm64 uses) and are listed per architecture below.
 */

/** errno values (the same on x86_64 and arm64: asm-generic/errno-base.h, errno.h). */
const EPERM = 1;
const ENOSYS = 38;

/**
 * The syscalls refused, with the errno each fails with. EPERM reads as "not allowed here"; io_uring
 * answers ENOSYS, as on a kernel without it, so libuv and others fall back to their thread pools.
 */
export const BLOCKED_SYSCALLS = {
  // io_uring: a large, often-exploited kernel surface that bypasses this very filter for the I/O it does.
  io_uring_setup: ENOSYS,
  io_uring_enter: ENOSYS,
  io_uring_register: ENOSYS,
  // Reaching into other processes (the pid namespace holds the runtime and its children).
  ptrace: EPERM,
  process_vm_readv: EPERM,
  process_vm_writev: EPERM,
  process_madvise: EPERM,
  pidfd_getfd: EPERM,
  kcmp: EPERM,
  // Kernel keyrings are not namespaced.
  keyctl: EPERM,
  add_key: EPERM,
  request_key: EPERM,
  // eBPF, userfaultfd and perf events: kernel attack surface no function needs.
  bpf: EPERM,
  userfaultfd: EPERM,
  perf_event_open: EPERM,
  // Mounts and namespaces: the sandbox's layout is fixed by bwrap before the runtime starts.
  mount: EPERM,
  umount2: EPERM,
  pivot_root: EPERM,
  move_mount: EPERM,
  open_tree: EPERM,
  fsopen: EPERM,
  fsconfig: EPERM,
  fsmount: EPERM,
  fspick: EPERM,
  mount_setattr: EPERM,
  setns: EPERM,
  unshare: EPERM,
  // The machine itself: kernels, modules, swap, reboot, accounting, quotas, the kernel log.
  kexec_load: EPERM,
  kexec_file_load: EPERM,
  init_module: EPERM,
  finit_module: EPERM,
  delete_module: EPERM,
  swapon: EPERM,
  swapoff: EPERM,
  reboot: EPERM,
  acct: EPERM,
  quotactl: EPERM,
  quotactl_fd: EPERM,
  syslog: EPERM,
  lookup_dcookie: EPERM,
  fanotify_init: EPERM,
  // File handles open files by inode, around the mount namespace (the "shocker" escape).
  open_by_handle_at: EPERM,
  name_to_handle_at: EPERM,
} as const satisfies Record<string, number>;

export type BlockedSyscall = keyof typeof BLOCKED_SYSCALLS;

/** What the filter needs to know about one architecture. */
export interface SyscallArch {
  /** Linux's name for it, for messages. */
  name: string;
  /** `AUDIT_ARCH_*` (linux/audit.h): the ELF machine plus the 64-bit and little-endian flags. */
  auditArch: number;
  /** x86_64 also accepts x32-ABI calls: the same numbers with bit 30 set, which this table does not cover. */
  x32Bit?: number;
  numbers: Record<BlockedSyscall, number>;
}

/** x86_64: /usr/include/x86_64-linux-gnu/asm/unistd_64.h (Linux 6.1 uapi headers). */
const X86_64: SyscallArch = {
  name: "x86_64",
  auditArch: 0xc000003e, // EM_X86_64 (62) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
  x32Bit: 0x40000000, // __X32_SYSCALL_BIT
  numbers: {
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    ptrace: 101,
    process_vm_readv: 310,
    process_vm_writev: 311,
    process_madvise: 440,
    pidfd_getfd: 438,
    kcmp: 312,
    keyctl: 250,
    add_key: 248,
    request_key: 249,
    bpf: 321,
    userfaultfd: 323,
    perf_event_open: 298,
    mount: 165,
    umount2: 166,
    pivot_root: 155,
    move_mount: 429,
    open_tree: 428,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    mount_setattr: 442,
    setns: 308,
    unshare: 272,
    kexec_load: 246,
    kexec_file_load: 320,
    init_module: 175,
    finit_module: 313,
    delete_module: 176,
    swapon: 167,
    swapoff: 168,
    reboot: 169,
    acct: 163,
    quotactl: 179,
    quotactl_fd: 443,
    syslog: 103,
    lookup_dcookie: 212,
    fanotify_init: 300,
    open_by_handle_at: 304,
    name_to_handle_at: 303,
  },
};

/** arm64 (AArch64): the generic table, /usr/include/asm-generic/unistd.h. */
const AARCH64: SyscallArch = {
  name: "aarch64",
  auditArch: 0xc00000b7, // EM_AARCH64 (183) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
  numbers: {
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    ptrace: 117,
    process_vm_readv: 270,
    process_vm_writev: 271,
    process_madvise: 440,
    pidfd_getfd: 438,
    kcmp: 272,
    keyctl: 219,
    add_key: 217,
    request_key: 218,
    bpf: 280,
    userfaultfd: 282,
    perf_event_open: 241,
    mount: 40,
    umount2: 39,
    pivot_root: 41,
    move_mount: 429,
    open_tree: 428,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    mount_setattr: 442,
    setns: 268,
    unshare: 97,
    kexec_load: 104,
    kexec_file_load: 294,
    init_module: 105,
    finit_module: 273,
    delete_module: 106,
    swapon: 224,
    swapoff: 225,
    reboot: 142,
    acct: 89,
    quotactl: 60,
    quotactl_fd: 443,
    syslog: 116,
    lookup_dcookie: 18,
    fanotify_init: 262,
    open_by_handle_at: 265,
    name_to_handle_at: 264,
  },
};

/** The architectures there are tables for, by Node's `process.arch`. */
export const SYSCALL_ARCHES: Readonly<Record<string, SyscallArch>> = { x64: X86_64, arm64: AARCH64 };

// Classic BPF opcodes (linux/bpf_common.h) and seccomp return actions (linux/seccomp.h).
const BPF_LD_W_ABS = 0x00 | 0x00 | 0x20; // BPF_LD | BPF_W | BPF_ABS: A = 32-bit word at offset k
const BPF_JEQ_K = 0x05 | 0x10 | 0x00; // BPF_JMP | BPF_JEQ | BPF_K: if A == k skip jt, else skip jf
const BPF_JGE_K = 0x05 | 0x30 | 0x00; // BPF_JMP | BPF_JGE | BPF_K: unsigned A >= k
const BPF_RET_K = 0x06 | 0x00; // BPF_RET | BPF_K: return k
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000; // | errno in the low 16 bits
export const SECCOMP_RET_ALLOW = 0x7fff0000;

// Offsets in struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }.
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;

/** One classic-BPF instruction, `struct sock_filter`. */
export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const load = (offset: number): BpfInstruction => ({ code: BPF_LD_W_ABS, jt: 0, jf: 0, k: offset });
const ret = (action: number): BpfInstruction => ({ code: BPF_RET_K, jt: 0, jf: 0, k: action });
/** The next instruction runs when A == k (a `ret`), and is skipped otherwise. */
const ifEqualThenNext = (k: number): BpfInstruction => ({ code: BPF_JEQ_K, jt: 0, jf: 1, k });
const ifAtLeastThenNext = (k: number): BpfInstruction => ({ code: BPF_JGE_K, jt: 0, jf: 1, k });

/**
 * The filter for one architecture, as instructions. Every test is a jump over exactly one `ret`, so
 * no offset depends on the list's length:
 *
 *     ld  arch;  jeq AUDIT_ARCH ? skip : next;  ret KILL_PROCESS   (another ABI: i386 via int 0x80…)
 *     ld  nr;    jge x32 bit ? next : skip;     ret ERRNO(ENOSYS)  (x86_64 only)
 *     jeq nr_1 ? next : skip;  ret ERRNO(errno_1)                  (one pair per blocked syscall)
 *     …
 *     ret ALLOW
 */
export function filterInstructions(arch: SyscallArch, blocked: ReadonlyArray<{ nr: number; errno: number }>): BpfInstruction[] {
  const program = [load(OFFSET_ARCH), { code: BPF_JEQ_K, jt: 1, jf: 0, k: arch.auditArch }, ret(SECCOMP_RET_KILL_PROCESS), load(OFFSET_NR)];
  if (arch.x32Bit !== undefined) program.push(ifAtLeastThenNext(arch.x32Bit), ret(SECCOMP_RET_ERRNO | ENOSYS));
  for (const { nr, errno } of blocked) program.push(ifEqualThenNext(nr), ret(SECCOMP_RET_ERRNO | (errno & 0xffff)));
  program.push(ret(SECCOMP_RET_ALLOW));
  return program;
}

/** The instructions as the kernel (and bwrap's `--seccomp`) reads them: 8 bytes each, little-endian. */
export function encodeFilter(program: readonly BpfInstruction[]): Buffer {
  const bytes = Buffer.alloc(program.length * 8);
  program.forEach(({ code, jt, jf, k }, i) => {
    bytes.writeUInt16LE(code, i * 8);
    bytes.writeUInt8(jt, i * 8 + 2);
    bytes.writeUInt8(jf, i * 8 + 3);
    bytes.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return bytes;
}

export type SeccompFilter = { arch: string; program: Buffer; blocked: BlockedSyscall[] } | { unsupported: string };

/**
 * The compiled filter for this host (Node's `process.arch`, little-endian), or why there is none:
 * without a table for the architecture the numbers would be wrong, so no filter is better than a
 * guess.
 */
export function seccompFilter(nodeArch: string = process.arch, endianness: "LE" | "BE" = "LE"): SeccompFilter {
  const arch = SYSCALL_ARCHES[nodeArch];
  if (!arch || endianness !== "LE") return { unsupported: `no syscall table for ${nodeArch} (${endianness}); there are tables for x86_64 and aarch64` };
  const blocked = Object.keys(BLOCKED_SYSCALLS) as BlockedSyscall[];
  const rules = blocked.map((name) => ({ nr: arch.numbers[name], errno: BLOCKED_SYSCALLS[name] }));
  return { arch: arch.name, program: encodeFilter(filterInstructions(arch, rules)), blocked };
}
