import CMSSClampShim
import Synchronization
import Testing

@testable import MSSSystem

#if canImport(Glibc)
    import Glibc
#endif

/// The capability drop's steps against a scripted kernel: the order of the calls, which failures end it
/// and which it tolerates. The real drop is IntegrationTests' PrivilegeTests.
@Suite("Capability drop")
struct CapabilityDropTests {
    /// A kernel with capabilities 0...40 in the bounding set; records every call, fails the ones asked.
    final class ScriptedKernel: Sendable {
        let log = Mutex<[String]>([])
        let failures: [String: Int32]

        init(failing failures: [String: Int32] = [:]) { self.failures = failures }

        func record(_ call: String, result: Int32 = 0) -> CapabilityCalls.Outcome {
            log.withLock { $0.append(call) }
            if let error = failures[call] { return (-1, error) }
            return (result, 0)
        }

        var calls: CapabilityCalls {
            CapabilityCalls(
                prctl: { option, argument2, argument3 in
                    switch option {
                    case PR_CAPBSET_READ: self.record("read \(argument2)", result: argument2 <= 40 ? 1 : -1)
                    case PR_CAPBSET_DROP: self.record("drop \(argument2)")
                    case PR_SET_KEEPCAPS: self.record("keepcaps \(argument2)")
                    case PR_SET_DUMPABLE: self.record("dumpable \(argument2)")
                    case PR_CAP_AMBIENT where argument2 == UInt(PR_CAP_AMBIENT_CLEAR_ALL): self.record("ambient clear")
                    case PR_CAP_AMBIENT: self.record("ambient raise \(argument3)")
                    default: self.record("prctl \(option)")
                    }
                },
                clearGroups: { self.record("setgroups") },
                setgid: { self.record("setgid \($0)") },
                setuid: { self.record("setuid \($0)") },
                capset: { self.record("capset \(String($0, radix: 16))") })
        }

        var steps: [String] { log.withLock { $0 } }
    }

    static let netAdmin: UInt64 = 1 << 12

    @Test func dropsTheBoundingSetThenTheIdentityThenTheSetsThenRaisesAmbient() throws {
        let kernel = ScriptedKernel()
        let changed = try CapabilityDrop.keepOnly(Self.netAdmin, identity: (65534, 65533), calls: kernel.calls)
        #expect(changed)
        var expected: [String] = []
        for capability in 0..<64 where capability != 12 {
            expected.append("read \(capability)")
            if capability <= 40 { expected.append("drop \(capability)") }
        }
        expected += [
            "keepcaps 1", "setgroups", "setgid 65533", "setuid 65534", "capset 1000", "ambient clear",
            "ambient raise 12", "dumpable 0",
        ]
        #expect(kernel.steps == expected)
    }

    @Test func withoutAnIdentityStaysRootAndStaysDumpable() throws {
        let kernel = ScriptedKernel()
        try CapabilityDrop.keepOnly(Self.netAdmin | 1 << 13, identity: nil, calls: kernel.calls)
        let tail = Array(kernel.steps.drop { $0.hasPrefix("read") || $0.hasPrefix("drop") })
        #expect(tail == ["capset 3000", "ambient clear", "ambient raise 12", "ambient raise 13"])
    }

    /// Without CAP_SETPCAP the bounding set stays as it is, and the rest of the drop still happens.
    @Test func keepsTheBoundingSetWithoutSetpcap() throws {
        let kernel = ScriptedKernel(failing: ["drop 0": EPERM])
        let changed = try CapabilityDrop.keepOnly(Self.netAdmin, identity: nil, calls: kernel.calls)
        #expect(!changed)
        #expect(kernel.steps == ["read 0", "drop 0", "capset 1000", "ambient clear", "ambient raise 12"])
    }

    @Test func namesTheStepThatFailed() {
        let cases: [(String, SystemCall, Int32)] = [
            ("drop 3", .boundingSetDrop, EINVAL), ("keepcaps 1", .keepCapabilities, EPERM),
            ("setgroups", .setgroups, EPERM), ("setgid 2", .setgid, EPERM), ("setuid 1", .setuid, EAGAIN),
            ("capset 1000", .capset, EPERM), ("ambient clear", .ambientClear, EPERM),
            ("ambient raise 12", .ambientRaise, EPERM),
        ]
        for (call, step, error) in cases {
            let kernel = ScriptedKernel(failing: [call: error])
            #expect(throws: SystemCallError(step, errno: error)) {
                try CapabilityDrop.keepOnly(Self.netAdmin, identity: (1, 2), calls: kernel.calls)
            }
            // Nothing after the failed step.
            #expect(kernel.steps.last == call)
        }
    }

    /// A kernel without ambient capabilities (before 4.3) answers EINVAL: the drop still succeeds.
    @Test func toleratesAKernelWithoutAmbientCapabilities() throws {
        let kernel = ScriptedKernel(failing: ["ambient clear": EINVAL, "ambient raise 12": EINVAL])
        #expect(try CapabilityDrop.keepOnly(Self.netAdmin, identity: nil, calls: kernel.calls))
        #expect(kernel.steps.suffix(2) == ["ambient clear", "ambient raise 12"])
    }
}
