using Keystone.Gateway.Providers;

namespace Keystone.Gateway.Tests.Providers;

public sealed class PooledBodyWriterTests
{
    [Fact]
    public void Write_PastTheFirstBuffer_KeepsEveryByteInOrder()
    {
        using var writer = new PooledBodyWriter(16);
        var expected = new List<byte>();
        for (var i = 0; i < 300; i++)
        {
            var chunk = Enumerable.Range(0, i % 37 + 1).Select(k => (byte)(i + k)).ToArray();
            chunk.CopyTo(writer.GetSpan(chunk.Length));
            writer.Advance(chunk.Length);
            expected.AddRange(chunk);
        }

        Assert.Equal(expected, writer.WrittenMemory.ToArray());
    }

    [Fact]
    public void Advance_PastWhatWasGiven_Throws()
    {
        using var writer = new PooledBodyWriter(16);
        var given = writer.GetSpan(8).Length;

        Assert.Throws<InvalidOperationException>(() => writer.Advance(given + 1));
    }

    [Fact]
    public void GetMemory_AfterDispose_Throws()
    {
        var writer = new PooledBodyWriter(16);
        writer.Dispose();
        writer.Dispose();

        Assert.Throws<ObjectDisposedException>(() => writer.GetMemory());
        Assert.Equal(0, writer.WrittenMemory.Length);
    }
}
