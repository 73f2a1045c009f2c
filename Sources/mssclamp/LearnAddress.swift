import ArgumentParser
import MSSDaemon

extension MSSClamp {
    struct LearnAddress: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "learn-address",
            abstract: "OpenVPN's learn-address hook: make a client's address a peer of a template.",
            discussion: """
                In the OpenVPN server's configuration: learn-address "/usr/local/bin/mssclamp learn-address \
                TEMPLATE" (with script-security 2). OpenVPN appends add|update|delete, the address and, for \
                add and update, the client's common name. The client becomes the live peer TEMPLATE/CN, with \
                the ceiling of the [[peer]] named TEMPLATE (learn_address = true), fixed, computed or auto. \
                OpenVPN does not route an address whose hook failed, so this exits 0 even when the daemon \
                cannot be reached (the error goes to OpenVPN's log); --strict makes failures exit non-zero. \
                Works as nobody/nogroup when the policy's [control] group is that group. \
                See docs/integrations.md.
                """)

        @Argument(help: "The [[peer]] template (learn_address = true) whose ceiling the client gets.")
        var template: String

        @Argument(help: "add, update or delete (as OpenVPN passes it).")
        var operation: String

        @Argument(help: "The client's address or routed prefix (a MAC address, in TAP mode, is ignored).")
        var address: String

        @Argument(help: "The client's common name (OpenVPN passes it for add and update).")
        var commonName: String?

        @Flag(help: "Exit non-zero when the daemon does not take the address (OpenVPN then does not route it).")
        var strict = false

        @OptionGroup var socket: ControlSocketOption

        func validate() throws {
            guard ["add", "update", "delete"].contains(operation) else {
                throw ValidationError("the operation is add, update or delete, got '\(operation)'")
            }
        }

        func run() throws {
            var request = ControlRequest(command: .learn)
            request.template = template
            request.operation = operation
            request.address = address
            request.commonName = commonName
            var stderr = StandardError()
            do {
                // OpenVPN waits for its hook: never long.
                let response = try socket.send(request, defaultTimeout: 3)
                print("mssclamp: \(response.message ?? "ok")", to: &stderr)
            } catch {
                // send() has printed why; OpenVPN must still route the client.
                if strict { throw error }
                print("mssclamp: learn-address \(operation) \(address) not applied; the client is routed without its own ceiling", to: &stderr)
            }
        }
    }
}
