using System.Net;
using System.Net.Sockets;

namespace Keystone.Testing.Upstreams;

/// <summary>Loopback ports for tests of a provider nobody answers.</summary>
public static class LoopbackPorts
{
    /// <summary>A loopback port that was free a moment ago: connecting to it is refused at once (no wait for a timeout).</summary>
    public static int Closed()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
