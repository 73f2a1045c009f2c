import CMSSClampShim

#if canImport(Glibc)
    import Glibc
#endif

/// Named network namespaces (`ip netns add NAME`, a file under /run/netns): the calling thread steps into
/// one, creates what it needs there (a socket stays in the namespace it was created in), and steps back.
/// Only this thread moves; the process and its other threads stay where they are.
public enum NetworkNamespace {
    /// Where `ip netns` keeps its namespaces.
    public static let directory = "/run/netns"

    /// Runs `body` with the calling thread in namespace `name`, then puts the thread back where it was,
    /// whatever `body` does.
    /// - Throws: `SystemCallError` when the namespace cannot be entered; what `body` throws.
    public static func run<T>(in name: String, _ body: () throws -> T) throws -> T {
        let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard home >= 0 else { throw SystemCallError(.openNamespace, errno: errno) }
        defer { close(home) }
        let target = open(directory + "/" + name, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw SystemCallError(.openNamespace, errno: errno) }
        defer { close(target) }
        guard CMSSClampShim_enter_network_namespace(target) == 0 else { throw SystemCallError(.setns, errno: errno) }
        // Stepping back into the namespace the thread came from cannot fail for a process allowed to
        // leave it; if it ever did, the thread must not go on in the wrong namespace.
        defer { precondition(CMSSClampShim_enter_network_namespace(home) == 0, "setns back: \(errno)") }
        return try body()
    }
}
