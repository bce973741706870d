using Keystone.Data;
using Keystone.Data.Calls;

namespace Keystone.Gateway.Recording;

/// <summary>
/// Stores one batch of the recorder's call rows and traces in one transaction, on the recorder's writer thread.
/// One implementation per database mode, chosen when the gateway is registered.
/// </summary>
internal interface ICallBatchWriter
{
    void Write(KeystoneDbContext db, IReadOnlyList<LlmCall> calls, IReadOnlyList<LlmTrace> traces);
}
