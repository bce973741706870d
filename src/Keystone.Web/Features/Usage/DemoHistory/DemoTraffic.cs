using Keystone.Web.Platform;

namespace Keystone.Web.Features.Usage.DemoHistory;

/// <summary>One call of the demo history, before it is sent through the gateway.</summary>
internal sealed record DemoCall(Guid TenantId, DateTime AtUtc, string Feature, string Alias, string? EndUser, string? UserId,
    string System, string Prompt, double Temperature, int MaxTokens);

/// <summary>
/// The demo's traffic plan: four tenants with their own feature mix, a long tail of end users (a few heavy
/// ones, many occasional), slow growth, quieter weekends and repeated temperature-0 questions that the exact
/// cache answers. Each tenant's story shows on the margin page: Initech (mostly the cheap alias) is healthy;
/// Acme is thin because its support bot runs on the expensive <c>smart</c> alias and, from
/// <see cref="AcmeHistoryFromShare"/> of the range on, sends each ticket's history with every question (the cost
/// trend steps up); Umbrella's research agent sends whole documents to <c>smart</c> on a flat price and is under
/// water; Globex is free. No call carries a failure marker: failures come from the provider side (the seed's
/// outage window and flaky region), so a replay on another model succeeds. Deterministic (fixed seed).
/// </summary>
internal static class DemoTraffic
{
    private sealed record Profile(Guid TenantId, string Slug, double CallsPerDay, int EndUsers, (string Feature, double Weight)[] Mix);

    /// <summary>From this share of the range on, Acme's support bot sends the ticket history with each question.</summary>
    internal const double AcmeHistoryFromShare = 0.6;

    /// <summary>Umbrella's heavy feature: whole documents on the expensive alias.</summary>
    internal const string ResearchFeature = "research-agent";

    private static readonly Profile[] Profiles =
    [
        new(DemoData.AcmeId, "acme", 18, 40, [("support-bot", 0.55), ("summarize", 0.2), ("classify", 0.15), ("search", 0.1)]),
        // Globex is on the Free plan: any cost is a loss, kept small by its day cap.
        new(DemoData.GlobexId, "globex", 5, 15, [("support-bot", 0.7), ("search", 0.3)]),
        new(DemoData.InitechId, "initech", 14, 60, [("summarize", 0.35), ("classify", 0.25), ("search", 0.2), ("support-bot", 0.2)]),
        new(DemoData.UmbrellaId, "umbrella", 9, 12, [(ResearchFeature, 0.7), ("search", 0.3)]),
    ];

    private static readonly string[] Sentences =
    [
        "The quarterly report shows revenue growth in every region except the north-east, where two large accounts churned.",
        "Customer satisfaction improved after the new onboarding flow shipped, but ticket volume rose during the migration week.",
        "Our warehouse in Rotterdam processed a record number of orders while keeping the error rate below half a percent.",
        "The engineering team proposes moving the billing service to a managed database to reduce on-call load.",
        "Several enterprise customers asked for single sign-on with their identity provider and audit exports.",
        "Shipping delays were caused by a customs backlog that has since been cleared by the logistics partner.",
        "The marketing campaign generated twice as many qualified leads as planned at a lower cost per lead.",
        "Security reviewed the vendor questionnaire and found no blocking issues, with two recommendations on key rotation.",
        "Support agents report that refund requests are the most common reason customers contact us on weekends.",
        "The product roadmap prioritises offline mode, faster search and a redesigned settings page for administrators.",
        "Finance recommends renegotiating the cloud contract before renewal because usage grew faster than forecast.",
        "A pilot with three hospitals showed the scheduling assistant saved nurses about forty minutes per shift.",
    ];

    private static readonly string[] Questions =
    [
        "How do I reset my password?", "Where can I download my invoices?", "Can I change the billing email?",
        "Why was my card declined?", "How do I add a teammate to my workspace?", "What is your refund policy?",
        "My export has been running for an hour, is something wrong?", "Can I use the API from a browser?",
        "How do I delete my account and all my data?", "Do you support SAML single sign-on?",
        "The mobile app logs me out every day, how do I fix it?", "Can I move my project to another region?",
    ];

    private static readonly string[] Reviews =
    [
        "Great product, setup took five minutes.", "Support never answered my ticket.", "Works as described.",
        "The latest update broke my workflow.", "Pricing is fair for what you get.", "Too slow on large files.",
        "I love the new dashboard!", "Refund took three weeks.",
    ];

    private static readonly string[] Products = ["the mobile app", "the web console", "the API", "the reports", "the onboarding", "billing"];

    private const string SupportSystem =
        "You are the support assistant of a software company. Answer politely and briefly, cite the help-centre article when one exists, " +
        "never promise refunds or discounts, escalate billing disputes and security questions to a human, and never reveal internal notes. " +
        "If the customer is angry, acknowledge the problem first. Use the customer's language. Keep answers under one hundred and fifty words.";

    /// <summary>Every call of <paramref name="days"/> days before <paramref name="todayUtc"/>, in time order.</summary>
    public static IReadOnlyList<DemoCall> Plan(int days, DateTime todayUtc, string? acmeMemberUserId)
    {
        var random = new Random(20261122);
        var calls = new List<DemoCall>();
        var start = todayUtc.Date.AddDays(-days);
        for (var d = 0; d < days; d++)
        {
            var day = DateTime.SpecifyKind(start.AddDays(d), DateTimeKind.Utc);
            var weekend = day.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday;
            var growth = 0.7 + 0.6 * d / Math.Max(1, days - 1);
            foreach (var p in Profiles)
            {
                var count = (int)Math.Round(p.CallsPerDay * growth * (weekend ? 0.55 : 1) * (0.85 + random.NextDouble() * 0.3));
                var share = (double)d / Math.Max(1, days - 1);
                for (var i = 0; i < count; i++)
                {
                    calls.Add(Call(p, Time(day, random), share, random));
                }

                if (p.TenantId == DemoData.AcmeId && acmeMemberUserId is not null && !weekend)
                {
                    // Acme's member uses the playground a little: their own usage page has something to show.
                    for (var i = random.Next(0, 3); i > 0; i--)
                    {
                        calls.Add(new DemoCall(p.TenantId, Time(day, random), "playground", "smart", null, acmeMemberUserId,
                            SupportSystem, Pick(Questions, random) + " Please answer in detail.", 0.7, 300));
                    }
                }
            }
        }

        return calls.OrderBy(c => c.AtUtc).ToList();
    }

    // Business hours are busier; seconds and milliseconds are random.
    private static DateTime Time(DateTime day, Random random)
    {
        var hour = random.NextDouble() < 0.75 ? 8 + random.Next(11) : random.Next(24);
        return day.AddHours(hour).AddSeconds(random.Next(3600)).AddMilliseconds(random.Next(1000));
    }

    private static DemoCall Call(Profile p, DateTime at, double share, Random random)
    {
        var feature = Feature(p, random);
        // Long tail: a cubic skew makes the first few users heavy and most users occasional.
        var user = $"{p.Slug}-user-{(int)(p.EndUsers * Math.Pow(random.NextDouble(), 3)) + 1:000}";
        return feature switch
        {
            "support-bot" when random.NextDouble() < 0.25
                // Frequently asked questions at temperature 0: the exact cache answers the repeats.
                => new DemoCall(p.TenantId, at, feature, "smart", user, null, SupportSystem, Questions[random.Next(4)], 0, 250),
            "support-bot" => new DemoCall(p.TenantId, at, feature, "smart", user, null, SupportSystem,
                $"{Pick(Questions, random)} Help-centre article: {Paragraph(random, 8, 14)}"
                    + (p.TenantId == DemoData.AcmeId && share >= AcmeHistoryFromShare ? $" Ticket history: {Paragraph(random, 300, 420)}" : ""),
                0.4, 350),
            ResearchFeature => new DemoCall(p.TenantId, at, feature, "smart", user, null,
                "You are a research assistant. Read the documents and write a sourced brief with the key findings and open questions.",
                $"Documents: {Paragraph(random, 380, 520)} Question: what should the board know?", 0.3, 600),
            "summarize" => new DemoCall(p.TenantId, at, feature, "fast", user, null, "Summarize the document in three bullet points.",
                Paragraph(random, 10, 28), 0.2, 200),
            "classify" => new DemoCall(p.TenantId, at, feature, "fast", user, null,
                "Classify the review as positive, negative or neutral. Answer with one word.",
                $"Review of {Pick(Products, random)}: {Pick(Reviews, random)}", 0, 5),
            _ => new DemoCall(p.TenantId, at, feature, random.NextDouble() < 0.2 ? "smart" : "fast", user, null,
                "Answer the question using only the search results.",
                $"Question: {Pick(Questions, random)} Results: {Paragraph(random, 3, 6)}", 0.3, 180),
        };
    }

    private static string Paragraph(Random random, int min, int max) =>
        string.Join(' ', Enumerable.Range(0, random.Next(min, max + 1)).Select(_ => Pick(Sentences, random)));

    private static string Feature(Profile p, Random random)
    {
        var x = random.NextDouble();
        foreach (var (feature, weight) in p.Mix)
        {
            if ((x -= weight) < 0)
            {
                return feature;
            }
        }

        return p.Mix[^1].Feature;
    }

    private static string Pick(string[] items, Random random) => items[random.Next(items.Length)];
}
