/// The version, in one place: `mssclamp --version`, the Debian package and the man pages all take it
/// from here (scripts/package reads it from the built binary).
enum MSSClampVersion {
    static let number = "0.2.0"
    static let text = "mssclamp \(number)"
}
