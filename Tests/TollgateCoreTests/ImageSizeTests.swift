import Foundation
import RedisTestSupport
import Testing
@testable import TollgateCore
import TollgateTokenizer

/// Image sizes read from real files: Pillow (pinned in Scripts/checks/requirements.txt, the
/// test run's venv is `TOLLGATE_PYTHON`) encodes PNG, GIF, JPEG and WebP in their common
/// variants, and every truncation or corruption of them gives the right size or none, never a
/// crash.
@Suite struct ImageSizeTests {
    struct Sample: Decodable, CustomStringConvertible {
        let name: String
        let width: Int
        let height: Int
        let base64: String
        var description: String { "\(name) \(width)×\(height)" }
    }

    static let script = #"""
        import base64, io, json, random, sys
        from PIL import Image
        random.seed(7)
        def image(mode, size):
            picture = Image.new(mode, size)
            picture.putdata([tuple(random.randrange(256) for _ in mode) if len(mode) > 1 else random.randrange(256)
                             for _ in range(min(size[0] * size[1], 4096))])
            return picture
        exif = Image.Exif()
        exif[0x010e] = "x" * 30000        # ImageDescription: a 30 KB APP1 segment before the frame
        exif[0x0112] = 6                  # Orientation: rotated
        icc = bytes(range(256)) * 200     # a 51 KB ICC profile: APP2 segments
        cases = [
            ("png rgb", "PNG", "RGB", (1024, 1024), {}),
            ("png rgba", "PNG", "RGBA", (3, 2), {}),
            ("png palette", "PNG", "P", (700, 1), {}),
            ("gif", "GIF", "P", (513, 1025), {}),
            ("jpeg baseline", "JPEG", "RGB", (1024, 1024), {"quality": 80}),
            ("jpeg progressive", "JPEG", "RGB", (2049, 7), {"progressive": True}),
            ("jpeg optimized grey", "JPEG", "L", (1, 1), {"optimize": True}),
            ("jpeg cmyk", "JPEG", "CMYK", (300, 4000), {}),
            ("jpeg exif icc", "JPEG", "RGB", (1600, 1200), {"exif": exif.tobytes(), "icc_profile": icc}),
            ("jpeg 4:2:0 odd", "JPEG", "RGB", (17, 65500), {"subsampling": 2}),  # libjpeg's largest side
            ("webp lossy", "WEBP", "RGB", (1024, 1024), {"quality": 50}),
            ("webp lossy max", "WEBP", "RGB", (16383, 2), {}),
            ("webp lossless", "WEBP", "RGB", (513, 2049), {"lossless": True}),
            ("webp lossless max", "WEBP", "RGB", (16383, 1), {"lossless": True}),  # WebP's largest side
            ("webp alpha", "WEBP", "RGBA", (800, 600), {}),
            ("webp exif", "WEBP", "RGB", (31, 47), {"exif": exif.tobytes()}),
        ]
        out = []
        for name, format, mode, size, options in cases:
            data = io.BytesIO()
            image(mode, size).save(data, format, **options)
            out.append({"name": name, "width": size[0], "height": size[1], "base64": base64.b64encode(data.getvalue()).decode()})
        frames = [image("RGB", (640, 480)) for _ in range(3)]
        for format in ("WEBP", "GIF"):
            data = io.BytesIO()
            frames[0].save(data, format, save_all=True, append_images=frames[1:], duration=100)
            out.append({"name": format.lower() + " animated", "width": 640, "height": 480, "base64": base64.b64encode(data.getvalue()).decode()})
        json.dump(out, open(sys.argv[1], "w"))
        """#

    /// The files, made once for the suite's tests.
    static func samples() async throws -> [Sample] { try await made.value }

    private static let made = Task { try await make() }

    private static func make() async throws -> [Sample] {
        let python = ProcessInfo.processInfo.environment["TOLLGATE_PYTHON"] ?? "/usr/bin/python3"
        let directory = try RedisServer.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/images.json"
        let process = try ChildProcess(python, ["-c", script, output])
        let status = await process.wait(timeout: .seconds(120))
        try #require(status == 0, "Pillow (\(python)) failed: \(process.output.suffix(2000)); run Scripts/test.sh, which installs it")
        return try JSONDecoder().decode([Sample].self, from: Data(contentsOf: URL(fileURLWithPath: output)))
    }

    @Test func sizesOfEncodedImages() async throws {
        let samples = try await Self.samples()
        #expect(samples.count == 18)
        for sample in samples {
            #expect(ImageSize(base64: sample.base64) == ImageSize(width: sample.width, height: sample.height), "\(sample)")
            let mime = sample.name.split(separator: " ")[0]
            #expect(ImageSize(dataURL: "data:image/\(mime);base64,\(sample.base64)") == ImageSize(width: sample.width, height: sample.height), "\(sample)")
        }
    }

    /// A 1024×1024 image at high detail is 765 tokens whatever its format (OpenAI's vision guide).
    @Test func jpegAndWebPCountLikePNG() async throws {
        let samples = try await Self.samples().filter { $0.width == 1024 && $0.height == 1024 }
        #expect(samples.map(\.name).sorted() == ["jpeg baseline", "png rgb", "webp lossy"])
        for sample in samples {
            let mime = sample.name.split(separator: " ")[0]
            let body = #"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/\#(mime);base64,\#(sample.base64)","detail":"high"}}]}]}"#
            let object = try #require(try JSONValue.parse(body).objectValue)
            let prompt = try #require(try Prompt(body: object))
            let count = try PromptCounter(choice: .exact(.o200kBase), model: "gpt-4o").count(prompt)
            #expect(count.tokens == 3 + 1 + 3 + 765, "\(sample)")
            #expect(count.exact, "\(sample)")
        }
    }

    /// Every prefix of every file's first 600 bytes (and a few of its large segments), every
    /// single-byte corruption of its header, and non-base64 text: the right size or none.
    @Test func shortOrCorruptDataIsUnknownNotACrash() async throws {
        let samples = try await Self.samples()
        var random = SystemRandomNumberGenerator()
        for sample in samples {
            let bytes = try #require(Data(base64Encoded: sample.base64)).map { $0 }
            let right = ImageSize(width: sample.width, height: sample.height)
            var lengths = Array(0...min(600, bytes.count))
            lengths += (0..<64).map { _ in Int.random(in: 0...bytes.count, using: &random) }
            for length in lengths {
                let size = ImageSize(base64: Data(bytes.prefix(length)).base64EncodedString())
                #expect(size == nil || size == right, "\(sample) cut to \(length) bytes: \(String(describing: size))")
            }
            for _ in 0..<100 {
                var corrupt = Array(bytes.prefix(120_000))  // past the JPEG's EXIF and ICC segments
                let at = Int.random(in: 0..<min(corrupt.count, 600), using: &random)
                corrupt[at] = UInt8.random(in: 0...255, using: &random)
                _ = ImageSize(base64: Data(corrupt).base64EncodedString())  // anything but a crash or a hang
            }
        }
        let jpegLoop: [UInt8] = [0xff, 0xd8] + [0xff, 0xe0, 0x00, 0x02] + [UInt8](repeating: 0xff, count: 3000)
        for text in ["", "=", "====", "!!!!", "iVBORw0KGgo", "/9j/", "UklGR", "R0lG", "data:", "data:image/png;base64,",
                     Data(jpegLoop).base64EncodedString(), Data([0xff, 0xd8, 0xff, 0xc0, 0x00, 0x00]).base64EncodedString(),
                     String(repeating: "/", count: 10_000)] {
            #expect(ImageSize(base64: text) == nil, "\(text.prefix(40))")
            #expect(ImageSize(dataURL: text) == nil, "\(text.prefix(40))")
        }
    }
}
