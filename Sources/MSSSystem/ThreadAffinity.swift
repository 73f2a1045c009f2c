import CMSSClampShim

#if canImport(Glibc)
    import Glibc
#endif

/// Which CPUs a thread may run on.
public enum ThreadAffinity {
    /// Keeps the calling thread on `cpu`; false when the kernel refused (no such CPU, a cpuset without it).
    @discardableResult
    public static func pin(cpu: Int) -> Bool { allow(cpus: [cpu]) }

    /// Keeps the calling thread (and what it starts from now on: threads and children inherit it) on
    /// `cpus` (0-63); false when the kernel refused.
    @discardableResult
    public static func allow(cpus: [Int]) -> Bool {
        let mask = cpus.filter { (0..<64).contains($0) }.reduce(UInt64(0)) { $0 | (UInt64(1) << UInt64($1)) }
        return mask != 0 && CMSSClampShim_set_thread_cpus(mask) == 0
    }

    /// The CPUs this machine has online.
    public static var onlineCPUs: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}
