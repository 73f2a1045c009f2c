import MSSProcess
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The spawning layer against real programs (/bin/sh, cat, head): each fault it exists for, and a
/// generous bound wherever a bug would show as a hang.
@Suite("Child processes: no hang, no SIGPIPE, no deadlock")
struct ChildProcessTests {
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        try body()
        var end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &end)
        return Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
    }

    @Test func outputErrorAndStatusComeBack() throws {
        let result = try ChildProcess.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        #expect(result.status == 3)
        #expect(result.output == "out\n")
        #expect(result.error == "err\n")
    }

    @Test func inputIsDeliveredAndClosed() throws {
        let result = try ChildProcess.run(["cat"], input: Array("line one\nline two\n".utf8))
        #expect(result.status == 0)
        #expect(result.output == "line one\nline two\n")
        #expect(!result.inputCut)
    }

    /// A tool that exits before reading its input (the flaky rollback of issue 10): the write fails with
    /// EPIPE, which must come back as a value. Were SIGPIPE raised, it would end this test process.
    @Test func childThatIgnoresItsInputIsAValueNotASignal() throws {
        let input = [UInt8](repeating: 0x41, count: 8 << 20)
        let result = try ChildProcess.run(["sh", "-c", "echo refused >&2; exit 1"], input: input)
        #expect(result.status == 1)
        #expect(result.error == "refused\n")
        #expect(result.inputCut)
    }

    /// Megabytes on input, output and error at once: a runner that writes all input before reading, or
    /// reads one stream to its end before the other, deadlocks here.
    @Test func largeStreamsInBothDirectionsDoNotDeadlock() throws {
        let input = [UInt8](repeating: 0x42, count: 4 << 20)
        var result: ChildResult?
        let elapsed = try Self.seconds {
            result = try ChildProcess.run(
                ["sh", "-c", "head -c 3000000 /dev/zero >&2 & cat; wait"], input: input, timeout: 60)
        }
        #expect(result?.status == 0)
        #expect(result?.output.utf8.count == 4 << 20)
        #expect(result?.error.utf8.count == 3_000_000)
        #expect(elapsed < 50, "took \(elapsed) s")
    }

    @Test func aHangingChildIsKilledAtTheDeadline() throws {
        var failure: ChildFailure?
        let elapsed = Self.seconds {
            do throws(ChildFailure) {
                _ = try ChildProcess.run(["sh", "-c", "echo starting >&2; exec sleep 60"], timeout: 0.5)
            } catch {
                failure = error
            }
        }
        guard case .timedOut(let name, _, let error)? = failure else {
            Issue.record("expected a timeout, got \(String(describing: failure))")
            return
        }
        #expect(name == "sh")
        #expect(error.contains("starting"))
        #expect(elapsed < 10, "the deadline was 0.5 s, the call took \(elapsed) s")
    }

    /// A child that ignores SIGTERM is killed anyway.
    @Test func aChildIgnoringSIGTERMIsKilled() throws {
        let elapsed = Self.seconds {
            #expect(throws: ChildFailure.self) {
                try ChildProcess.run(["sh", "-c", "trap '' TERM; while :; do sleep 1; done"], timeout: 0.3)
            }
        }
        #expect(elapsed < 10, "took \(elapsed) s")
    }

    /// A background grandchild keeps the output pipe open after the child exits; the call returns anyway.
    @Test func aGrandchildHoldingThePipeDoesNotHoldTheCall() throws {
        var result: ChildResult?
        let elapsed = try Self.seconds {
            result = try ChildProcess.run(["sh", "-c", "sleep 30 & echo done"], timeout: 20)
        }
        #expect(result?.status == 0)
        #expect(result?.output.hasPrefix("done") == true)
        #expect(elapsed < 10, "took \(elapsed) s")
    }

    @Test func aMissingProgramIsNamed() {
        #expect(throws: ChildFailure.notFound("mssclamp-no-such-tool")) {
            try ChildProcess.run(["mssclamp-no-such-tool"])
        }
    }

    /// Signals the caller blocks (the daemon blocks the ones it waits for) are not blocked in the child.
    @Test func theChildStartsWithAnEmptySignalMask() throws {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGUSR2)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        let result = try ChildProcess.run(["sh", "-c", "grep SigBlk /proc/self/status"])
        #expect(result.output.contains("0000000000000000"), "\(result.output)")
    }

    @Test func aSignalledChildReportsIt() throws {
        let result = try ChildProcess.run(["sh", "-c", "kill -KILL $$"])
        #expect(result.status == 128 + SIGKILL)
    }
}
