# Multi-stage build of Keystone.Web. Runs in the embedded mode (SQLite under /app/data, simulated provider,
# demo data) unless configured otherwise.
#
# PostgreSQL mode:
#   -e Database__Provider=Postgres
#   -e ConnectionStrings__Postgres="Host=db;Database=keystone;Username=keystone_app;Password=..."      (app role: not owner, not superuser)
#   -e ConnectionStrings__PostgresMigrator="Host=db;Database=keystone;Username=keystone_owner;Password=..." (owner, for --migrate)
#   Create the database and both roles first with scripts/postgres-setup.sql (README: PostgreSQL + pgvector).
#   Run migrations once per release:  docker run ... keystone --migrate
#   Several instances: size the pools with Database__MaxPoolSize, Database__JobWorkerCount, Database__ExpectedInstances (README: connection arithmetic).
# Providers: -e Gateway__Providers__openai__Kind=OpenAI -e Gateway__Providers__openai__ApiKey=sk-...
#            -e Gateway__Aliases__smart__0=openai/gpt-4o-mini
# Data Protection keys (cookies, BYOK secrets) live in /app/data/keys with SQLite (mount /app/data as a volume), in the database with PostgreSQL.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props Console.sln appsettings.json .editorconfig ./
COPY src/ src/
COPY wwwroot-assets/ wwwroot-assets/
COPY prompts/ prompts/
RUN dotnet publish src/Keystone.Web/Keystone.Web.csproj -c Release -o /app/publish

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app/publish .
ENV URLS=http://0.0.0.0:5080 \
    Database__SqlitePath=/app/data/keystone.db
VOLUME /app/data
EXPOSE 5080
ENTRYPOINT ["dotnet", "Keystone.Web.dll"]
