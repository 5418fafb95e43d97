import { describe, expect, it } from "vitest";
import {
  BLOCKED_SYSCALLS,
  encodeFilter,
  filterInstructions,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  seccompFilter,
  SYSCALL_ARCHES,
  type SyscallArch,
} from "./seccomp.js";

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
const AUDIT_ARCH_I386 = 0x40000003;
const x86 = SYSCALL_ARCHES["x64"] as SyscallArch;
const arm = SYSCALL_ARCHES["arm64"] as SyscallArch;

/**
 * Runs an encoded program the way the kernel does for the few instructions the generator emits
 * (word loads from seccomp_data, JEQ/JGE against a constant, RET), so the tests check what the
 * filter decides rather than restating its bytes.
 */
function decide(program: Buffer, data: { arch: number; nr: number }): number {
  const word = (offset: number) => (offset === 0 ? data.nr >>> 0 : offset === 4 ? data.arch >>> 0 : NaN);
  let acc = 0;
  for (let pc = 0; pc * 8 < program.length; pc++) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    if (code === 0x20) acc = word(k);
    else if (code === 0x15) pc += acc === k ? jt : jf;
    else if (code === 0x35) pc += acc >= k ? jt : jf;
    else if (code === 0x06) return k;
    else throw new Error(`unexpected opcode ${code.toString(16)} at ${pc}`);
  }
  throw new Error("fell off the end of the program");
}

describe("the seccomp filter", () => {
  it("encodes a tiny list as the kernel's struct sock_filter, little-endian", () => {
    const bytes = encodeFilter(filterInstructions(x86, [{ nr: 101, errno: 1 }]));
    expect([...bytes]).toEqual([
      0x20, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, // ld [4]               (arch)
      0x15, 0x00, 0x01, 0x00, 0x3e, 0x00, 0x00, 0xc0, // jeq #0xc000003e, 1, 0
      0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, // ret #KILL_PROCESS
      0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // ld [0]               (nr)
      0x35, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x40, // jge #0x40000000, 0, 1 (x32)
      0x06, 0x00, 0x00, 0x00, 0x26, 0x00, 0x05, 0x00, // ret #ERRNO|ENOSYS
      0x15, 0x00, 0x00, 0x01, 0x65, 0x00, 0x00, 0x00, // jeq #101, 0, 1
      0x06, 0x00, 0x00, 0x00, 0x01, 0x00, 0x05, 0x00, // ret #ERRNO|EPERM
      0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x7f, // ret #ALLOW
    ]);
  });

  it("has no x32 check on aarch64, and every jump lands on the instruction after a ret", () => {
    const program = filterInstructions(arm, [
      { nr: 117, errno: 1 },
      { nr: 425, errno: 38 },
    ]);
    expect(program.map((i) => i.code)).toEqual([0x20, 0x15, 0x06, 0x20, 0x15, 0x06, 0x15, 0x06, 0x06]);
    program.forEach((instruction, pc) => {
      if (instruction.code !== 0x15 && instruction.code !== 0x35) return;
      const skipped = program[pc + 1];
      expect(skipped?.code, `instruction ${pc + 1} is a ret`).toBe(0x06);
      expect(instruction.jt + instruction.jf, `jump at ${pc} picks the ret or the one after it`).toBe(1);
    });
  });

  it("kills a process calling through another architecture's ABI", () => {
    const { program } = seccompFilter("x64") as { program: Buffer };
    expect(decide(program, { arch: AUDIT_ARCH_I386, nr: 0 })).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(decide(program, { arch: AUDIT_ARCH_AARCH64, nr: 0 })).toBe(SECCOMP_RET_KILL_PROCESS);
    const arm64 = (seccompFilter("arm64") as { program: Buffer }).program;
    expect(decide(arm64, { arch: AUDIT_ARCH_X86_64, nr: 0 })).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  it("refuses x32-ABI numbers on x86_64", () => {
    const { program } = seccompFilter("x64") as { program: Buffer };
    expect(decide(program, { arch: AUDIT_ARCH_X86_64, nr: 0x40000000 })).toBe(SECCOMP_RET_ERRNO | 38);
    expect(decide(program, { arch: AUDIT_ARCH_X86_64, nr: 0x40000000 + 101 })).toBe(SECCOMP_RET_ERRNO | 38);
    expect(decide(program, { arch: AUDIT_ARCH_X86_64, nr: 0x3fffffff })).toBe(SECCOMP_RET_ALLOW);
  });

  it("refuses each blocked syscall with its errno and allows everything else, on both architectures", () => {
    for (const [nodeArch, auditArch] of [
      ["x64", AUDIT_ARCH_X86_64],
      ["arm64", AUDIT_ARCH_AARCH64],
    ] as const) {
      const arch = SYSCALL_ARCHES[nodeArch] as SyscallArch;
      const { program } = seccompFilter(nodeArch) as { program: Buffer };
      const blocked = new Set(Object.values(arch.numbers));
      for (const [name, errno] of Object.entries(BLOCKED_SYSCALLS)) {
        expect(decide(program, { arch: auditArch, nr: arch.numbers[name as keyof typeof BLOCKED_SYSCALLS] }), `${nodeArch} ${name}`).toBe(SECCOMP_RET_ERRNO | errno);
      }
      for (let nr = 0; nr < 512; nr++) if (!blocked.has(nr)) expect(decide(program, { arch: auditArch, nr }), `${nodeArch} ${nr}`).toBe(SECCOMP_RET_ALLOW);
    }
  });

  it("answers io_uring with ENOSYS, so runtimes fall back, and the rest with EPERM", () => {
    expect(BLOCKED_SYSCALLS.io_uring_setup).toBe(38);
    expect(BLOCKED_SYSCALLS.io_uring_enter).toBe(38);
    expect(BLOCKED_SYSCALLS.io_uring_register).toBe(38);
    expect(BLOCKED_SYSCALLS.ptrace).toBe(1);
  });

  it("knows each architecture's numbers, with no two syscalls sharing one", () => {
    expect(x86.numbers).toMatchObject({ ptrace: 101, mount: 165, bpf: 321, keyctl: 250, io_uring_setup: 425, userfaultfd: 323, perf_event_open: 298 });
    expect(arm.numbers).toMatchObject({ ptrace: 117, mount: 40, bpf: 280, keyctl: 219, io_uring_setup: 425, userfaultfd: 282, perf_event_open: 241 });
    for (const arch of [x86, arm]) expect(new Set(Object.values(arch.numbers)).size).toBe(Object.keys(BLOCKED_SYSCALLS).length);
  });

  it("has no filter for an architecture without a table, rather than wrong numbers", () => {
    expect(seccompFilter("riscv64")).toEqual({ unsupported: expect.stringContaining("riscv64") });
    expect(seccompFilter("x64", "BE")).toEqual({ unsupported: expect.any(String) });
  });
});
