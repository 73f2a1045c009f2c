import ArgumentParser

extension MSSClamp {
    /// `mssclamp rules`: its subcommands are in the files next to this one.
    struct Rules: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate, apply, verify and remove the firewall rules; import TCPMSS rules.",
            subcommands: [Show.self, Apply.self, Remove.self, Verify.self, Import.self])
    }
}
