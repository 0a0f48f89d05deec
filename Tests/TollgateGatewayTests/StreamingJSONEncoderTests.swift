import Foundation
import Testing
import TollgateCore
@testable import TollgateGateway

@Suite struct StreamingJSONEncoderTests {
    struct Inner: Encodable { var a: Int64; var b: [String] }
    struct Outer: Encodable {
        var text: String
        var flag: Bool
        var missing: String?
        var present: Int64?
        var inner: Inner
        var list: [Inner]
        var map: [String: String]
    }

    @Test func writesWhatFoundationReadsBack() throws {
        let value = Outer(text: "quote \" backslash \\ tab \t newline \n bell \u{07} é", flag: true, missing: nil, present: -42,
                          inner: Inner(a: 7, b: ["x", ""]), list: [Inner(a: 1, b: []), Inner(a: 2, b: ["y"])], map: ["k": "v"])
        let bytes = try StreamingJSONEncoder.encode(value)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(parsed["text"] as? String == value.text)
        #expect(parsed["flag"] as? Bool == true)
        #expect(parsed.keys.contains("missing") == false)
        #expect(parsed["present"] as? Int == -42)
        #expect((parsed["inner"] as? [String: Any])?["b"] as? [String] == ["x", ""])
        #expect((parsed["list"] as? [[String: Any]])?.count == 2)
        #expect((parsed["map"] as? [String: String]) == ["k": "v"])
        // Keys come in declaration order.
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"text":"#))
        #expect(text.range(of: "\"flag\"")!.lowerBound < text.range(of: "\"inner\"")!.lowerBound)
    }
}
