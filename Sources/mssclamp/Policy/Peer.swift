import ArgumentParser

extension MSSClamp {
    /// `mssclamp peer`: its subcommands are in the PeerX.swift files next to this one.
    struct Peer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change the running daemon's peers through its control socket.",
            discussion: """
                Live peers apply from the next batch of packets, without a restart. They are kept apart from \
                the policy file: a reload (SIGHUP) keeps them, a restart forgets them, and `peer save` \
                appends them to the file.
                """,
            subcommands: [Add.self, Remove.self, List.self, Save.self])
    }
}
