import ArgumentParser
import Foundation
import TollgateCore

/// `tollgate tokens count`: counts a prompt offline, as the gateway does.
public struct TokensCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "Count prompt tokens offline, as the gateway counts them (Docs/tokens.md).",
        subcommands: [Count.self])
    public init() {}

    struct Count: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count a file's tokens: plain text, or a JSON request body with text, messages or input (and tools).")
        @Option(help: "The model; its tokenizer comes from the shipped price catalogue or its name.") var model: String
        @Option(help: "Override: o200k_base, cl100k_base or estimate:FACTOR.") var tokenizer: String?
        @Flag(help: "Count the file as plain text even if it is JSON.") var text = false
        @Argument(help: "The file, or - for standard input (the default).") var file: String = "-"

        func validate() throws {
            guard !model.isEmpty else { throw ValidationError("--model must not be empty") }
            if let tokenizer {
                do { _ = try TokenizerChoice(parsing: tokenizer) } catch { throw ValidationError(error.description) }
            }
        }

        func run() async throws {
            let data: Data
            do {
                data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
            } catch {
                throw ValidationError("cannot read '\(file)': \(error.localizedDescription)")
            }
            guard let content = String(data: data, encoding: .utf8) else { throw ValidationError("'\(file)' is not UTF-8 text") }
            let choice = try tokenizer.map { try TokenizerChoice(parsing: $0) }
                ?? (try? DefaultCatalogue.load().catalogue.tokenizer(for: model)) ?? .inferred(model: model)
            var prompt = Prompt.text(content)
            if !text, content.first(where: { !$0.isWhitespace }) == "{", let object = (try? JSONValue.parse(content))?.objectValue {
                do {
                    if let found = try Prompt(body: object) { prompt = found }
                } catch {
                    throw ValidationError("\(error.field): \(error.message)")
                }
            }
            let count: PromptCount
            do {
                count = try PromptCounter(choice: choice, model: model).count(prompt)
            } catch let error as PromptError {
                throw ValidationError("\(error.field): \(error.message)")
            }
            print("{\"input_tokens\":\(count.tokens),\"tokenizer\":\"\(count.tokenizer)\",\"exact\":\(count.exact)}")
        }
    }
}
