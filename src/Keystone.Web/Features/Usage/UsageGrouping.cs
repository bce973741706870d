namespace Keystone.Web.Features.Usage;

/// <summary>How <see cref="UsageReader"/> groups a tenant's usage; each grouping names the key its rows carry.</summary>
internal enum UsageGrouping
{
    /// <summary>UTC day of the call, <c>yyyy-MM-dd</c>.</summary>
    Day,

    /// <summary>The call's feature label.</summary>
    Feature,

    /// <summary><c>provider/model</c> that answered, or <c>(none)</c> when no provider did (cache hits, refusals).</summary>
    Model,

    /// <summary>The end user named in the request, else the console user, else <c>(none)</c>.</summary>
    User,

    /// <summary>The API key's id, or <c>(none)</c> for calls made without one (console, playground).</summary>
    ApiKey,

    /// <summary>The model alone, empty when none answered (the usage page's model table).</summary>
    ModelName,

    /// <summary>Console user and end user as <c>userId|endUser</c>, each empty when absent (the usage page's user table).</summary>
    Member,
}
