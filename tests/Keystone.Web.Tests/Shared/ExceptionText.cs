namespace Keystone.Web.Tests.Shared;

/// <summary>Start-up failures arrive wrapped (host, options validation); tests look for the setting's name anywhere in the chain.</summary>
internal static class ExceptionText
{
    public static string Flatten(Exception e) => e.InnerException is null ? e.Message : e.Message + " | " + Flatten(e.InnerException);
}
