using Keystone.Data.Prompts;
using Keystone.Gateway;
using Keystone.Web.Features.Prompts;

namespace Keystone.Web.Tests.Prompts;

public sealed class ResponseSchemaCheckTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("""{"type":"object","properties":{"answer":{"type":"string"},"confidence":{"type":"number","minimum":0}},"required":["answer"]}""")]
    public void Validate_BlankOrValidObjectSchema_IsAccepted(string? schema)
    {
        Assert.Null(ResponseSchemaCheck.Validate(schema));
    }

    [Fact]
    public void Validate_NotJson_NamesTheLine()
    {
        var error = ResponseSchemaCheck.Validate("{\n  \"type\": \"object\",\n  \"properties\": {\n}");

        Assert.NotNull(error);
        Assert.StartsWith("The response schema is not valid JSON (line ", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_UnknownTypeName_IsRefusedWithWhereItIs()
    {
        var error = ResponseSchemaCheck.Validate("""{"type":"object","properties":{"answer":{"type":"strng"}}}""");

        Assert.NotNull(error);
        Assert.Contains("not a valid JSON Schema", error, StringComparison.Ordinal);
        Assert.True(error.Contains("/properties/answer", StringComparison.Ordinal), error);
    }

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("""{"type":"string"}""")]
    [InlineData("""{"properties":{}}""")]
    public void Validate_RootIsNotAnObjectSchema_IsRefused(string schema)
    {
        var error = ResponseSchemaCheck.Validate(schema);

        Assert.NotNull(error);
        Assert.Contains("object", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NegativeMinLength_IsRefused()
    {
        Assert.NotNull(ResponseSchemaCheck.Validate("""{"type":"object","properties":{"a":{"type":"string","minLength":-1}}}"""));
    }

    [Fact]
    public void Render_VersionWithSchema_AsksForThatJsonSchema()
    {
        var version = new PromptVersion
        {
            SystemTemplate = "Be brief.",
            UserTemplate = "{{q}}",
            ModelAlias = "smart",
            ResponseSchema = """{"type":"object","properties":{"answer":{"type":"string"}}}""",
        };

        var request = PromptRenderer.Render(version, new Dictionary<string, string> { ["q"] = "Hi" });

        Assert.Equal("json_schema", request.ResponseFormat!.Type);
        Assert.Equal(PromptRenderer.ResponseSchemaName, request.ResponseFormat.SchemaName);
        Assert.Equal("string", request.ResponseFormat.Schema!.Value.GetProperty("properties").GetProperty("answer").GetProperty("type").GetString());
    }

    [Fact]
    public void Render_VersionWithoutSchema_LeavesTheFormatUnset()
    {
        var version = new PromptVersion { UserTemplate = "{{q}}", ModelAlias = "smart" };

        var request = PromptRenderer.Render(version, new Dictionary<string, string> { ["q"] = "Hi" });

        Assert.Null(request.ResponseFormat);
    }

    [Fact]
    public void Validate_NewVersionWithBadSchema_IsTheFormsMessage()
    {
        var error = PromptCatalog.Validate(new NewPromptVersion(null, "{{q}}", "smart", null, null, null, """{"type":"object","required":"answer"}"""));

        Assert.NotNull(error);
        Assert.Contains("JSON Schema", error, StringComparison.Ordinal);
    }
}
