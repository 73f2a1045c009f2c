#if canImport(Glibc)
    import Glibc
#endif

// Loading a policy file: its bytes, read as TOML (TOMLReader.swift), validated (PolicyValidation.swift).
// Problems with the file itself (missing, a directory, unreadable) get plain messages.

extension PolicyConfiguration {
    /// Reads and validates a policy file.
    public static func load(path: String) throws(PolicyError) -> PolicyConfiguration {
        try parse(bytes: try readFile(path), file: path)
    }

    /// The bytes of a file, or a plain reason why not (never a Foundation error code).
    static func readFile(_ path: String) throws(PolicyError) -> [UInt8] {
        func failure(_ reason: String) -> PolicyError {
            PolicyError([PolicyDiagnostic(file: path, line: 0, key: "", message: "cannot read the file: \(reason)")])
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            switch errno {
            case ENOENT: throw failure("no such file")
            case EACCES: throw failure("permission denied")
            case ENOTDIR: throw failure("a part of the path is not a directory")
            case ELOOP: throw failure("too many symbolic links")
            default: throw failure(String(cString: strerror(errno)))
            }
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure(String(cString: strerror(errno))) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw failure("it is a directory, not a file")
        default: throw failure("it is not a regular file")
        }
        // 256 MiB is far beyond any policy (100,000 peers take about 10 MB).
        guard info.st_size <= 256 << 20 else { throw failure("it is larger than 256 MiB") }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw failure(String(cString: strerror(errno))) }
            if count == 0 { break }
            filled += count
        }
        return Array(bytes[0..<filled])
    }

    /// Parses and validates a policy document.
    /// - Parameter file: the name used in diagnostics.
    /// - Throws: every problem found, each with file, line and key.
    public static func parse(bytes: [UInt8], file: String) throws(PolicyError) -> PolicyConfiguration {
        let document: TOMLDocument
        do {
            document = try TOMLReader(bytes: bytes).parse()
        } catch {
            throw PolicyError([PolicyDiagnostic(file: file, line: error.line, key: "", message: error.message)])
        }
        var reader = PolicyReader(file: file)
        var configuration = reader.read(document)
        guard reader.diagnostics.isEmpty else { throw PolicyError(reader.diagnostics) }
        configuration.isEmptyDocument = document.tables.isEmpty && document.root.entries.isEmpty
        return configuration
    }

    /// Parses and validates policy text (tests, `peer save`'s check, `rules import`).
    public static func parse(_ text: String, file: String) throws(PolicyError) -> PolicyConfiguration {
        try parse(bytes: Array(text.utf8), file: file)
    }
}
