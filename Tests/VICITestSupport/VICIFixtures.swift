import MSSVICI

/// charon's messages as 5.9.8 sends them (field names from a real charon's `list-sas`), for the VICI
/// tests: a road warrior's IKE_SA with one CHILD_SA, and the rekey, update and down events.
public enum VICIMessageFixtures {
    static func value(_ text: String) -> VICIMessage.Element { .value(Array(text.utf8)) }

    static func child(
        _ child: String, _ childID: String, encryption: String, integrity: String?, selectors: [String], state: String
    ) -> VICIMessage {
        var entries: [VICIMessage.Entry] = [
            .init("name", value(child)), .init("uniqueid", value(childID)), .init("reqid", value(childID)),
            .init("state", value(state)), .init("mode", value("TUNNEL")), .init("protocol", value("ESP")),
            .init("encap", value("yes")), .init("encr-alg", value(encryption)), .init("encr-keysize", value("256")),
        ]
        if let integrity { entries.append(.init("integ-alg", value(integrity))) }
        entries.append(.init("local-ts", .list([Array("198.51.100.0/24".utf8)])))
        entries.append(.init("remote-ts", .list(selectors.map { Array($0.utf8) })))
        return VICIMessage(entries)
    }

    static func ike(_ ikeID: String, remoteHost: String, extra: [VICIMessage.Entry] = []) -> [VICIMessage.Entry] {
        [
            .init("uniqueid", value(ikeID)), .init("version", value("2")), .init("state", value("ESTABLISHED")),
            .init("remote-host", value(remoteHost)), .init("remote-port", value("4500")),
            .init("remote-id", value("client")),
        ] + extra
    }

    /// `{ rw = { ..., child-sas = { net-ID = {...} } } }`; AES-CBC gets HMAC-SHA2-256-128.
    public static func listSA(
        child: String = "net", childID: String = "3", ikeID: String = "1", encryption: String = "AES_GCM_16",
        remoteHost: String = "192.0.2.2", selectors: [String] = ["10.9.0.1/32"], state: String = "INSTALLED"
    ) -> VICIMessage {
        let integrity = encryption.contains("GCM") ? nil : "HMAC_SHA2_256_128"
        let sa = Self.child(child, childID, encryption: encryption, integrity: integrity, selectors: selectors, state: state)
        let children = VICIMessage([.init("\(child)-\(childID)", .section(sa))])
        return VICIMessage([.init("rw", .section(VICIMessage(ike(ikeID, remoteHost: remoteHost, extra: [.init("child-sas", .section(children))]))))])
    }

    /// A `child-rekey` event: `child-sas = { net = { old = {...}, new = {...} } }`.
    public static func rekey(oldChildID: String, newChildID: String, encryption: String) -> VICIMessage {
        let integrity = encryption.contains("GCM") ? nil : "HMAC_SHA2_256_128"
        let old = child("net", oldChildID, encryption: "AES_GCM_16", integrity: nil, selectors: ["10.9.0.1/32"], state: "REKEYED")
        let new = child("net", newChildID, encryption: encryption, integrity: integrity, selectors: ["10.9.0.1/32"], state: "INSTALLED")
        let pair = VICIMessage([.init("old", .section(old)), .init("new", .section(new))])
        let children = VICIMessage([.init("net", .section(pair))])
        return VICIMessage([.init("rw", .section(VICIMessage(ike("1", remoteHost: "192.0.2.2", extra: [.init("child-sas", .section(children))]))))])
    }

    /// An `ike-rekey` event: `rw = { old = {...}, new = {...} }`.
    public static func ikeRekey(old: String, new: String) -> VICIMessage {
        let pair = VICIMessage([
            .init("old", .section(VICIMessage(ike(old, remoteHost: "192.0.2.2")))),
            .init("new", .section(VICIMessage(ike(new, remoteHost: "192.0.2.2")))),
        ])
        return VICIMessage([.init("rw", .section(pair))])
    }

    /// An `ike-update` event: the new addresses at the top, the IKE_SA below.
    public static func ikeUpdate(ikeID: String, remoteHost: String) -> VICIMessage {
        VICIMessage([
            .init("remote-host", value(remoteHost)), .init("remote-port", value("4500")),
            .init("rw", .section(VICIMessage(ike(ikeID, remoteHost: remoteHost)))),
        ])
    }

    /// An IKE_SA without CHILD_SAs (`ike-updown`).
    public static func ikeOnly(ikeID: String) -> VICIMessage {
        VICIMessage([.init("rw", .section(VICIMessage(ike(ikeID, remoteHost: "192.0.2.2"))))])
    }

    /// `up = yes|no` in front of an event's IKE_SA sections.
    public static func upDown(_ up: Bool, _ message: VICIMessage) -> VICIMessage {
        VICIMessage([.init("up", value(up ? "yes" : "no"))] + message.entries)
    }
}
