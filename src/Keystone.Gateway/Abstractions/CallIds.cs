using System.Security.Cryptography;

namespace Keystone.Gateway;

/// <summary>
/// The ids every call takes (call, trace, request), from cryptographically random bytes drawn a kilobyte at a
/// time. <see cref="Guid.NewGuid"/> and <see cref="Guid.CreateVersion7()"/> read <c>/dev/urandom</c> with one system
/// call per id on Linux (the runtime's native layer does not use <c>arc4random</c>): three per call, visible in
/// <c>perf</c> on the API's hot path. Trace ids are handed to callers, so they stay unguessable.
/// </summary>
public static class CallIds
{
    private const int PoolSize = 1024;

    [ThreadStatic]
    private static byte[]? t_pool;

    [ThreadStatic]
    private static int t_used;

    /// <summary>
    /// A version 7 GUID (RFC 9562: 48-bit Unix milliseconds, then random bits), laid out as <see cref="Guid.CreateVersion7(DateTimeOffset)"/>
    /// lays it out. The caller passes the time from its injected <see cref="TimeProvider"/>.
    /// </summary>
    public static Guid NewVersion7(DateTimeOffset timestamp)
    {
        var milliseconds = timestamp.ToUnixTimeMilliseconds();
        ArgumentOutOfRangeException.ThrowIfNegative(milliseconds, nameof(timestamp));
        var r = Take();
        return new Guid(
            (int)(milliseconds >> 16),
            (short)milliseconds,
            (short)((BitConverter.ToUInt16(r[..2]) & 0x0FFF) | 0x7000), // version 7
            (byte)((r[2] & 0x3F) | 0x80), // variant 10xx
            r[3], r[4], r[5], r[6], r[7], r[8], r[9]);
    }

    /// <summary>
    /// The <c>x-request-id</c> of an API request whose call has <paramref name="traceId"/>: OpenAI's header, in its
    /// <c>req_</c> form, that SDKs put into their errors — so the id a customer quotes leads straight to the trace.
    /// </summary>
    public static string RequestIdOf(Guid traceId) => "req_" + traceId.ToString("N");

    /// <summary>A trace id pasted as a GUID (any of its usual forms) or as the <c>x-request-id</c> that carries it.</summary>
    public static bool TryParseTraceId(string? text, out Guid traceId)
    {
        var value = text.AsSpan().Trim();
        return value.StartsWith("req_", StringComparison.OrdinalIgnoreCase)
            ? Guid.TryParseExact(value[4..], "N", out traceId)
            : Guid.TryParse(value, out traceId);
    }

    /// <summary>A random (version 4) id as 32 lower-case hex digits.</summary>
    public static string NewHex()
    {
        var r = Take();
        var guid = new Guid(
            BitConverter.ToInt32(r[..4]),
            BitConverter.ToInt16(r[4..6]),
            (short)((BitConverter.ToUInt16(r[6..8]) & 0x0FFF) | 0x4000), // version 4
            (byte)((r[8] & 0x3F) | 0x80), // variant 10xx
            r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
        return guid.ToString("N");
    }

    /// <summary>The next 16 unused random bytes of this thread's pool (refilled when spent; each byte is used once).</summary>
    private static ReadOnlySpan<byte> Take()
    {
        var pool = t_pool ??= new byte[PoolSize];
        if (t_used == 0 || t_used == PoolSize)
        {
            RandomNumberGenerator.Fill(pool);
            t_used = 0;
        }

        var bytes = pool.AsSpan(t_used, 16);
        t_used += 16;
        return bytes;
    }
}
