using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server.Circuits;

namespace Keystone.Web.Platform;

/// <summary>Keeps the circuit's <see cref="TenantContext"/> in step with its authentication state.</summary>
internal sealed class TenantCircuitHandler(AuthenticationStateProvider auth, TenantContext tenant)
    : CircuitHandler, IDisposable
{
    public override async Task OnCircuitOpenedAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        tenant.SetUser((await auth.GetAuthenticationStateAsync()).User);
        auth.AuthenticationStateChanged += OnChanged;
    }

    private void OnChanged(Task<AuthenticationState> task) => _ = UpdateAsync(task);

    private async Task UpdateAsync(Task<AuthenticationState> task) => tenant.SetUser((await task).User);

    public void Dispose() => auth.AuthenticationStateChanged -= OnChanged;
}
