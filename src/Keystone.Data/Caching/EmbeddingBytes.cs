using System.Runtime.InteropServices;
using Microsoft.EntityFrameworkCore.ChangeTracking;

namespace Keystone.Data.Caching;

/// <summary>An embedding as little-endian float32 bytes (SQLite's storage of <see cref="SemanticCacheEntry.Embedding"/>).</summary>
public static class EmbeddingBytes
{
    public static byte[] ToBytes(float[] vector) => MemoryMarshal.AsBytes(vector.AsSpan()).ToArray();

    /// <summary>Element-wise comparison for EF's change tracking (arrays compare by reference otherwise).</summary>
    public static readonly ValueComparer<float[]> Comparer = new((a, b) => Same(a, b), v => v.Length, v => v.ToArray());

    private static bool Same(float[]? a, float[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);

    public static float[] FromBytes(byte[] bytes) => MemoryMarshal.Cast<byte, float>(bytes.AsSpan()).ToArray();
}
