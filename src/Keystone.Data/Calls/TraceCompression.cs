using System.Buffers;
using System.IO.Compression;
using System.Text;

namespace Keystone.Data.Calls;

/// <summary>
/// How the SQLite model stores a trace's JSON payloads (docs/decisions: compact call recording): Brotli-compressed
/// UTF-8 behind a one-byte format marker, as a BLOB. A trace's request with a realistic system prompt is a few
/// kilobytes of text; uncompressed it spilled every trace row onto overflow pages (a page and a half written per
/// row, twice with the WAL). Values stored before (plain UTF-8 JSON text) are read as they are: JSON never starts
/// with the marker byte, so old and new rows live side by side and no table rewrite is needed on upgrade.
/// PostgreSQL keeps text columns: it compresses large values itself (TOAST).
/// </summary>
public static class TraceCompression
{
    /// <summary>First byte of a compressed value (a control character: no JSON text starts with it).</summary>
    public const byte BrotliMarker = 0x01;

    // Quality 1 and a 64 KB window: payloads are a few kilobytes, so a larger window buys nothing, and the recorder
    // compresses every call on its one writer thread. Quality 3 saved a further tenth of the bytes for twice the CPU
    // (recorder benchmark, --realistic: 47 µs per call under load).
    private const int Quality = 1;
    private const int Window = 16;

    /// <summary>The stored form of <paramref name="text"/>.</summary>
    public static byte[] Compress(string text)
    {
        var utf8Length = Encoding.UTF8.GetByteCount(text);
        var utf8 = ArrayPool<byte>.Shared.Rent(utf8Length);
        var output = ArrayPool<byte>.Shared.Rent(BrotliEncoder.GetMaxCompressedLength(utf8Length) + 1);
        try
        {
            Encoding.UTF8.GetBytes(text, utf8);
            output[0] = BrotliMarker;
            if (!BrotliEncoder.TryCompress(utf8.AsSpan(0, utf8Length), output.AsSpan(1), out var written, Quality, Window))
            {
                throw new InvalidOperationException("Brotli could not compress a trace payload into its maximum compressed length.");
            }

            return output.AsSpan(0, written + 1).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(utf8);
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    /// <summary>The text of a stored value: compressed by <see cref="Compress"/>, or plain UTF-8 (rows stored before compression).</summary>
    public static string Decompress(byte[] stored)
    {
        if (stored.Length == 0 || stored[0] != BrotliMarker)
        {
            return Encoding.UTF8.GetString(stored);
        }

        using var input = new MemoryStream(stored, 1, stored.Length - 1, writable: false);
        using var brotli = new BrotliStream(input, CompressionMode.Decompress);
        using var reader = new StreamReader(brotli, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
