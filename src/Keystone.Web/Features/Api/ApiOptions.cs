using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Features.Api;

/// <summary>The <c>Api</c> configuration section: limits of the HTTP API.</summary>
public sealed class ApiOptions
{
    public const string SectionName = "Api";

    /// <summary>Largest request body accepted under <c>/v1</c> and <c>/api/v1</c>; larger ones get 413. Default 4 MiB.</summary>
    [Range(1024, 256 * 1024 * 1024)]
    public int MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>While a stream's first event is slow, an SSE comment is sent this often to keep proxies from timing out. Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan StreamKeepAliveInterval { get; set; } = TimeSpan.FromSeconds(10);
}
