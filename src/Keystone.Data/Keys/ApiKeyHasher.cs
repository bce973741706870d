using System.Security.Cryptography;
using System.Text;

namespace Keystone.Data.Keys;

/// <summary>Creates and hashes tenant API keys (<c>ks_</c> + 43 url-safe base64 characters = 256 bits).</summary>
public static class ApiKeyHasher
{
    /// <summary>Every key starts with this.</summary>
    public const string KeyPrefix = "ks_";

    /// <summary>How many characters of a key are kept and shown.</summary>
    public const int ShownPrefixLength = 11;

    /// <summary>A new random key. Shown to its creator once, never stored.</summary>
    public static string NewKey()
    {
        Span<byte> bytes = stackalloc byte[32];
        RandomNumberGenerator.Fill(bytes);
        return KeyPrefix + Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>Lower-case hex SHA-256 of the key.</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>The part of the key that may be shown.</summary>
    public static string PrefixOf(string key) => key.Length <= ShownPrefixLength ? key : key[..ShownPrefixLength];
}
