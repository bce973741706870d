using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Keystone.Data.Calls;

/// <summary>One trace's redacted payloads as a pack holds them, and whether redaction left raw ones beside them.</summary>
public sealed record PackedTrace(Guid CallId, string? RequestJson, string? ResponseJson, string? AttemptsJson, bool HasRawRequest, bool HasRawResponse);

/// <summary>
/// The format of <see cref="LlmTracePack"/>'s two blobs. Each is one Brotli stream (quality 1, as
/// <see cref="TraceCompression"/>) behind a marker byte (0x02) and the uncompressed length (4 bytes, little-endian), so
/// reading decompresses in one call into an array of the right size. Uncompressed, the redacted blob is a version byte,
/// the slot count, then per slot the call id (16 bytes), a flags byte (1: a raw request exists, 2: a raw answer) and the
/// request, answer and attempts; the raw blob is a version byte, the entry count, then per entry the slot and the raw
/// request and answer. A string is its UTF-8 length (4 bytes, -1 for null) and its bytes.
/// </summary>
/// <remarks>
/// At most <see cref="MaxSlots"/> traces per pack: reading one trace decompresses its whole pack (≈ 0.3 MB of text at
/// most with realistic payloads, well under a millisecond), and 64 realistic traces already carry the repeated system
/// prompt at 1/64 of its compressed size. Brotli's 64 KB window covers the distance between repeats (one trace).
/// </remarks>
public static class TracePack
{
    /// <summary>Most traces in one pack.</summary>
    public const int MaxSlots = 64;

    /// <summary>First byte of a pack blob.</summary>
    public const byte Marker = 0x02;

    private const byte Version = 1;
    private const int Quality = 1;
    private const int Window = 16;

    /// <summary>
    /// A recorder batch's traces packed per tenant (slot = index in <c>Traces</c>), each pack's blobs compressed: the work
    /// done before a batch's transaction opens, the same on both databases. The pack's id is left to the database.
    /// </summary>
    public static List<(LlmTrace[] Traces, LlmTracePack Pack)> PerTenant(IReadOnlyList<LlmTrace> traces)
    {
        var packs = new List<(LlmTrace[] Traces, LlmTracePack Pack)>();
        foreach (var tenant in traces.GroupBy(t => t.TenantId))
        {
            foreach (var chunk in tenant.Chunk(MaxSlots))
            {
                var (payloads, raw, rawCount) = Encode(chunk);
                packs.Add((chunk, new LlmTracePack
                {
                    TenantId = tenant.Key, FirstCreatedUtc = chunk.Min(t => t.CreatedUtc), LastCreatedUtc = chunk.Max(t => t.CreatedUtc),
                    Count = chunk.Length, Payloads = payloads, RawPayloads = raw, RawCount = rawCount,
                }));
            }
        }

        return packs;
    }

    /// <summary>
    /// The row stored for <paramref name="trace"/> once its payloads are in pack <paramref name="packId"/>: a new row rather
    /// than the recorder's (if the batch fails, its retry or the call-by-call pass packs again from the originals). No search
    /// text: a database that indexes it from the row (PostgreSQL's insert trigger) sets it on the result.
    /// </summary>
    public static LlmTrace Slim(LlmTrace trace, long packId, int slot) => new()
    {
        CallId = trace.CallId, TenantId = trace.TenantId, RedactionCount = trace.RedactionCount, CreatedUtc = trace.CreatedUtc,
        PackId = packId, PackSlot = slot,
    };

    /// <summary>The redacted blob of <paramref name="traces"/> (slot = index), and the raw blob (null when no trace has raw payloads) with its entry count.</summary>
    public static (byte[] Payloads, byte[]? Raw, int RawCount) Encode(IReadOnlyList<LlmTrace> traces)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(traces.Count, MaxSlots);
        var redacted = new ArrayBufferWriter<byte>(16 * 1024);
        WriteByte(redacted, Version);
        WriteInt(redacted, traces.Count);
        var raw = new ArrayBufferWriter<byte>();
        var rawCount = 0;
        for (var slot = 0; slot < traces.Count; slot++)
        {
            var t = traces[slot];
            var id = redacted.GetSpan(16);
            t.CallId.TryWriteBytes(id);
            redacted.Advance(16);
            var flags = (byte)((t.RawRequestJson is null ? 0 : 1) | (t.RawResponseJson is null ? 0 : 2));
            WriteByte(redacted, flags);
            WriteString(redacted, t.RequestJson);
            WriteString(redacted, t.ResponseJson);
            WriteString(redacted, t.AttemptsJson);
            if (flags != 0)
            {
                if (rawCount == 0)
                {
                    WriteByte(raw, Version);
                    WriteInt(raw, 0); // the count, filled in below
                }

                rawCount++;
                WriteInt(raw, slot);
                WriteString(raw, t.RawRequestJson);
                WriteString(raw, t.RawResponseJson);
            }
        }

        byte[]? rawBlob = null;
        if (rawCount > 0)
        {
            var bytes = raw.WrittenSpan.ToArray();
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(1), rawCount);
            rawBlob = Compress(bytes);
        }

        return (Compress(redacted.WrittenSpan), rawBlob, rawCount);
    }

    /// <summary>Every slot of a redacted blob, in slot order.</summary>
    public static IReadOnlyList<PackedTrace> Decode(byte[] payloads)
    {
        var bytes = Decompress(payloads);
        var at = 1;
        var count = ReadInt(bytes, ref at);
        var slots = new PackedTrace[count];
        for (var i = 0; i < count; i++)
        {
            var id = new Guid(bytes.AsSpan(at, 16));
            at += 16;
            var flags = bytes[at++];
            slots[i] = new PackedTrace(id, ReadString(bytes, ref at), ReadString(bytes, ref at), ReadString(bytes, ref at), (flags & 1) != 0, (flags & 2) != 0);
        }

        return slots;
    }

    /// <summary>The raw request and answer per slot of a raw blob.</summary>
    public static IReadOnlyDictionary<int, (string? Request, string? Response)> DecodeRaw(byte[] raw)
    {
        var bytes = Decompress(raw);
        var at = 1;
        var count = ReadInt(bytes, ref at);
        var entries = new Dictionary<int, (string?, string?)>(count);
        for (var i = 0; i < count; i++)
        {
            var slot = ReadInt(bytes, ref at);
            entries[slot] = (ReadString(bytes, ref at), ReadString(bytes, ref at));
        }

        return entries;
    }

    private static byte[] Compress(ReadOnlySpan<byte> data)
    {
        var output = ArrayPool<byte>.Shared.Rent(BrotliEncoder.GetMaxCompressedLength(data.Length) + 5);
        try
        {
            output[0] = Marker;
            BinaryPrimitives.WriteInt32LittleEndian(output.AsSpan(1), data.Length);
            if (!BrotliEncoder.TryCompress(data, output.AsSpan(5), out var written, Quality, Window))
            {
                throw new InvalidOperationException("Brotli could not compress a trace pack into its maximum compressed length.");
            }

            return output.AsSpan(0, written + 5).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    private static byte[] Decompress(byte[] blob)
    {
        if (blob.Length < 5 || blob[0] != Marker)
        {
            throw new InvalidDataException("Not a trace pack.");
        }

        var bytes = new byte[BinaryPrimitives.ReadInt32LittleEndian(blob.AsSpan(1))];
        if (!BrotliDecoder.TryDecompress(blob.AsSpan(5), bytes, out var written) || written != bytes.Length)
        {
            throw new InvalidDataException("A trace pack is damaged (Brotli refused it).");
        }

        return bytes;
    }

    private static void WriteByte(ArrayBufferWriter<byte> to, byte value)
    {
        to.GetSpan(1)[0] = value;
        to.Advance(1);
    }

    private static void WriteInt(ArrayBufferWriter<byte> to, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(to.GetSpan(4), value);
        to.Advance(4);
    }

    private static void WriteString(ArrayBufferWriter<byte> to, string? value)
    {
        if (value is null)
        {
            WriteInt(to, -1);
            return;
        }

        var span = to.GetSpan(4 + Encoding.UTF8.GetMaxByteCount(value.Length));
        var length = Encoding.UTF8.GetBytes(value, span[4..]);
        BinaryPrimitives.WriteInt32LittleEndian(span, length);
        to.Advance(4 + length);
    }

    private static int ReadInt(byte[] bytes, ref int at)
    {
        var value = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at));
        at += 4;
        return value;
    }

    private static string? ReadString(byte[] bytes, ref int at)
    {
        var length = ReadInt(bytes, ref at);
        if (length < 0)
        {
            return null;
        }

        var value = Encoding.UTF8.GetString(bytes, at, length);
        at += length;
        return value;
    }
}
