using Keystone.Data.Prompts;
using Keystone.Web.Features.Prompts;

namespace Keystone.Web.Tests.Prompts;

public sealed class PromptTemplateTests
{
    [Fact]
    public void Render_AllVariablesGiven_ReplacesEveryPlaceholderIncludingSpacedOnes()
    {
        var text = PromptTemplate.Render("Hi {{name}}, about {{ topic }}: {{name}}!", new Dictionary<string, string> { ["name"] = "Ana", ["topic"] = "billing" });

        Assert.Equal("Hi Ana, about billing: Ana!", text);
    }

    [Fact]
    public void Render_MissingVariable_ThrowsNamingIt()
    {
        var ex = Assert.Throws<PromptException>(() => PromptTemplate.Render("{{company}} asks {{question}}", new Dictionary<string, string> { ["company"] = "Acme" }));

        Assert.Equal(PromptException.MissingVariable, ex.Code);
        Assert.Equal("question", ex.Variable);
        Assert.Contains("question", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EnsureVariables_SeveralMissingAcrossTemplates_NamesThemAllAtOnce()
    {
        var ex = Assert.Throws<PromptException>(() => PromptTemplate.EnsureVariables(new Dictionary<string, string> { ["question"] = "Where?" },
            "You work for {{company}}.", "{{customer_name}} asks: {{question}} ({{company}})"));

        Assert.Equal(PromptException.MissingVariable, ex.Code);
        Assert.Equal("company", ex.Variable);
        Assert.Equal("2 variables are missing: 'company', 'customer_name'. The prompt uses {{company}}, {{customer_name}}, {{question}}.", ex.Message);
    }

    [Fact]
    public void Render_ValueContainingPlaceholdersAndRegexTokens_IsInsertedLiterally()
    {
        var vars = new Dictionary<string, string> { ["q"] = "{{secret}} $1 $$ \\n {{q}}", ["secret"] = "LEAKED" };

        var text = PromptTemplate.Render("Q: {{q}}", vars);

        Assert.Equal("Q: {{secret}} $1 $$ \\n {{q}}", text);
    }

    [Fact]
    public void Render_UnknownVariables_AreIgnored()
    {
        var text = PromptTemplate.Render("Only {{a}}", new Dictionary<string, string> { ["a"] = "x", ["b"] = "unused" });

        Assert.Equal("Only x", text);
    }

    [Fact]
    public void Variables_Template_ListsEachNameOnceInOrder()
    {
        Assert.Equal(["b", "a"], PromptTemplate.Variables("{{b}} {{a}} {{ b }} {{not a var}} {single}"));
    }

    [Fact]
    public void Render_Version_BuildsSystemAndUserMessagesWithTheVersionsParametersAndRecordsTheVariables()
    {
        var version = new PromptVersion
        {
            Id = Guid.NewGuid(), Number = 3, SystemTemplate = "You help {{company}}.", UserTemplate = "{{question}}", ModelAlias = "fast",
            Temperature = 0.2, MaxTokens = 99,
        };
        var vars = new Dictionary<string, string> { ["company"] = "Acme", ["question"] = "Where is my order?" };

        var request = PromptRenderer.Render(version, vars);

        Assert.Equal("fast", request.Model);
        Assert.Equal(0.2, request.Temperature);
        Assert.Equal(99, request.MaxTokens);
        Assert.Equal(["system: You help Acme.", "user: Where is my order?"], request.Messages.Select(m => $"{m.Role}: {m.Content}"));
        Assert.Equal(vars, request.PromptVariables);
    }

    [Fact]
    public void Render_VersionWithoutSystemTemplate_SendsOnlyTheUserMessage()
    {
        var version = new PromptVersion { Id = Guid.NewGuid(), Number = 1, SystemTemplate = "", UserTemplate = "Say {{x}}", ModelAlias = "smart" };

        var request = PromptRenderer.Render(version, new Dictionary<string, string> { ["x"] = "hi" });

        Assert.Equal("user", Assert.Single(request.Messages).Role);
    }
}
