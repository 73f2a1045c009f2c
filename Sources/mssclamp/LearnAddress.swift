import ArgumentParser
import MSSControl
import MSSPolicy

#if canImport(Glibc)
    import Glibc
#endif

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

        @Argument(help: "The [[peer]] template (learn_address = true) whose ceiling the client gets.") var template: String

        @Argument(help: "add, update or delete (as OpenVPN passes it).") var operation: String

        @Argument(help: "The client's address or routed prefix (a MAC address, in TAP mode, is ignored).") var address: String

        @Argument(help: "The client's common name (OpenVPN passes it for add and update).") var commonName: String?

        @Flag(help: "Exit non-zero when the daemon does not take the address (OpenVPN then does not route it).") var strict = false

        @OptionGroup var socket: ControlSocketOption

        func validate() throws {
            guard ["add", "update", "delete"].contains(operation) else {
                throw ValidationError("the operation is add, update or delete, got '\(operation)'")
            }
        }

        func run() throws {
            let status = Self.send(
                template: template, operation: operation, address: address, commonName: commonName, strict: strict,
                path: try socket.path, timeout: socket.timeout)
            if status != 0 { throw ExitCode(status) }
        }

        /// Sends the learn request and says what happened on stderr (OpenVPN's log); returns the exit
        /// status: 0, or with `strict` the error's code.
        static func send(
            template: String, operation: String, address: String, commonName: String?, strict: Bool, path: String,
            timeout: Double?
        ) -> Int32 {
            var request = ControlRequest(command: .learn)
            request.template = template
            request.operation = operation
            request.address = address
            request.commonName = commonName
            var stderr = StandardError()
            var code: Int32 = 0
            do {
                // OpenVPN waits for its hook: never long.
                let response = try ControlClient.send(request, to: path, timeout: timeout ?? 3)
                if response.ok {
                    print("mssclamp: \(response.message ?? "ok")", to: &stderr)
                    return 0
                }
                print("mssclamp: error: \(response.error ?? "the daemon refused the request")", to: &stderr)
                code = 65
            } catch {
                print("mssclamp: error: \(error.description)", to: &stderr)
                code = error.exitCode
            }
            // OpenVPN must still route the client unless told otherwise.
            if strict { return code }
            print("mssclamp: learn-address \(operation) \(address) not applied; the client is routed without its own ceiling", to: &stderr)
            return 0
        }

        /// The hook's own command line, as OpenVPN runs it (`learn-address TEMPLATE OP ADDRESS [CN]`,
        /// `--strict`, `--socket PATH`), taken without building the whole command tree: OpenVPN waits for
        /// every call, and the parser's start-up is most of a call's time. Anything else (help, other
        /// options, a bad operation) returns nil, and the full parser answers it.
        static func fastPath(_ arguments: [String]) -> Int32? {
            guard arguments.count >= 2, arguments[1] == "learn-address" else { return nil }
            var positional: [String] = []
            var strict = false
            var socket: String?
            var rest = arguments.dropFirst(2)
            while let argument = rest.popFirst() {
                if argument == "--strict" {
                    strict = true
                } else if argument == "--socket", let value = rest.popFirst() {
                    socket = value
                } else if argument.hasPrefix("-") {
                    return nil
                } else {
                    positional.append(argument)
                }
            }
            guard (3...4).contains(positional.count), ["add", "update", "delete"].contains(positional[1]) else { return nil }
            // Without --socket: the primary instance's, when it is there; the full parser finds others.
            let primary = PolicyConfiguration.defaultControlSocket
            guard let socket = socket ?? (access(primary, F_OK) == 0 ? primary : nil) else { return nil }
            return send(
                template: positional[0], operation: positional[1], address: positional[2],
                commonName: positional.count == 4 ? positional[3] : nil, strict: strict, path: socket, timeout: nil)
        }
    }
}
