import Testing
@testable import TollgateTokenizer

/// The class table the pre-tokenisers read against the standard library's Unicode data it is
/// built from, for every scalar, including the planes it fills without looking them up.
@Suite struct ScalarClassTests {
    @Test func tableHasEveryScalarsClass() {
        let table = ScalarClassTable.shared
        var wrong: [String] = []
        for value in UInt32(0)..<0x110000 {
            guard let scalar = Unicode.Scalar(value) else { continue }
            if table.rawClass(scalar) != ScalarClass(scalar).rawValue, wrong.count < 10 {
                wrong.append(String(value, radix: 16))
            }
        }
        #expect(wrong.isEmpty, "scalars classed wrongly: \(wrong)")
        #expect(table.rawClass("\u{1C89}") == ScalarClass.uppercaseLetter.rawValue)  // new in Unicode 16
        #expect(table.rawClass("\u{E0100}") == ScalarClass.mark.rawValue)  // plane 14: a variation selector
        #expect(table.rawClass("\u{2028}") == ScalarClass.space.rawValue)
        #expect(table.rawClass("\u{200B}") == ScalarClass.other.rawValue)  // zero width space is not White_Space
    }
}
