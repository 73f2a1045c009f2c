/// The one rule for an interface name in the policy and on the command line: what the kernel takes
/// (IFNAMSIZ is 16 with the terminating zero), with nothing a rule renderer would have to quote.
public enum InterfaceName {
    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count < 16 && name.utf8.allSatisfy { byte in
            byte > 0x20 && byte < 0x7f && byte != UInt8(ascii: "/") && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
        }
    }

    public static let rule = "1-15 bytes of printable ASCII, no '/', space or quote"
}
