import CMSSClampShim

#if canImport(Glibc)
    import Glibc
#endif

/// Which CPUs a thread may run on.
public enum ThreadAffinity {
    /// Keeps the calling thread on `cpu`; false when the kernel refused (no such CPU, a cpuset without it).
    @discardableResult
    public static func pin(cpu: Int) -> Bool { CMSSClampShim_pin_thread(Int32(cpu)) == 0 }

    /// The CPUs this machine has online.
    public static var onlineCPUs: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}
