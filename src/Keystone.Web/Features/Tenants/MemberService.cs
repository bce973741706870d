using Keystone.Web.Platform;
using System.Data;
using System.Security.Cryptography;
using Keystone.Data;
using Keystone.Data.Identity;
using Keystone.Data.Tenancy;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Tenants;

/// <summary>A member as listed to the tenant's admins.</summary>
internal sealed record MemberRow(string UserId, string Email, string DisplayName, string Role, DateTime SinceUtc, bool LockedOut);

/// <summary>The result of adding a member: the temporary password is shown once, to the admin who added them.</summary>
internal sealed record AddMemberResult(bool Succeeded, string? Error, string? TemporaryPassword);

/// <summary>
/// Lists and manages the members of the caller's tenant. Every change is audited. Concurrent changes answer truly
/// (issue 20, item 6): two adds of one person are one member, and a role change or removal that would leave the
/// tenant without an admin is refused even when two admins demote each other at the same moment (the check and the
/// write share one serializable transaction; the loser is retried and then sees the other's change).
/// </summary>
internal sealed class MemberService(
    IDbContextFactory<KeystoneDbContext> dbFactory,
    UserManager<KeystoneUser> users,
    TenantContext tenant,
    AuditLog audit,
    TimeProvider clock)
{
    public async Task<IReadOnlyList<MemberRow>> ListAsync(CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var now = clock.GetUtcNow();
        return await db.Memberships.AsNoTracking()
            .Join(db.Users, m => m.UserId, u => u.Id, (m, u) => new { m, u })
            .OrderBy(x => x.u.Email)
            .Select(x => new MemberRow(x.u.Id, x.u.Email ?? "", x.u.DisplayName, x.m.Role, x.m.CreatedUtc,
                x.u.LockoutEnd != null && x.u.LockoutEnd > now))
            .ToListAsync(ct);
    }

    public async Task<AddMemberResult> AddAsync(string email, string displayName, string role, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        email = email.Trim();
        if (!Roles.Tenant.Contains(role))
        {
            return new(false, $"Role must be {string.Join(" or ", Roles.Tenant)}.", null);
        }

        var user = await users.FindByEmailAsync(email);
        string? password = null;
        if (user is null)
        {
            password = TemporaryPassword();
            user = new KeystoneUser { UserName = email, Email = email, EmailConfirmed = true, DisplayName = displayName.Trim(), CreatedUtc = clock.GetUtcNow().UtcDateTime };
            IdentityResult created;
            try
            {
                created = await users.CreateAsync(user, password);
            }
            catch (Exception ex) when (WriteConflicts.IsConflict(ex))
            {
                // Someone added the same address at the same moment: their account stands, this one changed nothing.
                return new(false, $"{email} was being added by someone else at the same moment. Look at the list: they may be a member already.", null);
            }

            if (!created.Succeeded)
            {
                return new(false, string.Join(" ", created.Errors.Select(e => e.Description)), null);
            }
        }
        else if ((await users.GetRolesAsync(user)).Any(r => Roles.Platform.Contains(r)))
        {
            return new(false, "That account is platform staff; platform roles reach tenants through the tenant switch.", null);
        }

        await using var db = await dbFactory.CreateDbContextAsync(ct);
        if (await db.Memberships.AnyAsync(m => m.UserId == user.Id, ct))
        {
            return new(false, $"{email} is already a member.", null);
        }

        db.Memberships.Add(new Membership { Id = Guid.NewGuid(), TenantId = tenantId, UserId = user.Id, Role = role, CreatedUtc = clock.GetUtcNow().UtcDateTime });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (Exception ex) when (WriteConflicts.IsConflict(ex))
        {
            // The unique (tenant, user) index: another admin added them a moment ago.
            return new(false, $"{email} is already a member.", null);
        }

        await audit.WriteAsync("member.add", $"user:{email}", tenantId, new { role }, ct);
        return new(true, null, password);
    }

    public async Task<string?> ChangeRoleAsync(string userId, string role, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        if (!Roles.Tenant.Contains(role))
        {
            return $"Role must be {string.Join(" or ", Roles.Tenant)}.";
        }

        var refusal = await GuardedAsync(async db =>
        {
            var membership = await db.Memberships.SingleOrDefaultAsync(m => m.UserId == userId, ct);
            if (membership is null)
            {
                return "That person is not a member of this tenant.";
            }

            if (membership.Role == Roles.TenantAdmin && role != Roles.TenantAdmin
                && await db.Memberships.CountAsync(m => m.Role == Roles.TenantAdmin, ct) == 1)
            {
                return "A tenant needs at least one admin. Make someone else admin first.";
            }

            membership.Role = role;
            return null;
        }, ct);
        if (refusal is not null)
        {
            return refusal;
        }

        await audit.WriteAsync("member.role", $"user:{userId}", tenantId, new { role }, ct);
        return null;
    }

    public async Task<string?> RemoveAsync(string userId, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        if (userId == tenant.UserId)
        {
            return "You cannot remove yourself.";
        }

        var refusal = await GuardedAsync(async db =>
        {
            var membership = await db.Memberships.SingleOrDefaultAsync(m => m.UserId == userId, ct);
            if (membership is null)
            {
                return "That person is not a member of this tenant.";
            }

            if (membership.Role == Roles.TenantAdmin && await db.Memberships.CountAsync(m => m.Role == Roles.TenantAdmin, ct) == 1)
            {
                return "A tenant needs at least one admin.";
            }

            db.Memberships.Remove(membership);
            return null;
        }, ct);
        if (refusal is not null)
        {
            return refusal;
        }

        // Ends the removed member's sessions at their next revalidation.
        if (await users.FindByIdAsync(userId) is { } user)
        {
            await users.UpdateSecurityStampAsync(user);
        }

        await audit.WriteAsync("member.remove", $"user:{userId}", tenantId, null, ct);
        return null;
    }

    /// <summary>
    /// Ends a member's sign-in lockout (and its count of failed attempts), so they can sign in at once. Audited.
    /// Null on success, else why not.
    /// </summary>
    public async Task<string?> UnlockAsync(string userId, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var user = await MemberAsync(userId, ct);
        if (user is null)
        {
            return "That person is not a member of this tenant.";
        }

        await EndLockoutAsync(user);
        await audit.WriteAsync("member.unlock", $"user:{user.Email}", tenantId, null, ct);
        return null;
    }

    /// <summary>
    /// Gives a member a new temporary password (shown once, to the admin) and ends any lockout: a reset is how an admin
    /// lets a locked-out member back in. Their other sessions end at the next revalidation. Audited (never the password).
    /// </summary>
    public async Task<AddMemberResult> ResetPasswordAsync(string userId, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var user = await MemberAsync(userId, ct);
        if (user is null)
        {
            return new(false, "That person is not a member of this tenant.", null);
        }

        var password = TemporaryPassword();
        var reset = await users.ResetPasswordAsync(user, await users.GeneratePasswordResetTokenAsync(user), password);
        if (!reset.Succeeded)
        {
            return new(false, string.Join(" ", reset.Errors.Select(e => e.Description)), null);
        }

        await EndLockoutAsync(user);
        await audit.WriteAsync("member.password_reset", $"user:{user.Email}", tenantId, null, ct);
        return new(true, null, password);
    }

    // The membership is read through the tenant-scoped context: another tenant's user id finds nothing.
    private async Task<KeystoneUser?> MemberAsync(string userId, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Memberships.AnyAsync(m => m.UserId == userId, ct) ? await users.FindByIdAsync(userId) : null;
    }

    private async Task EndLockoutAsync(KeystoneUser user)
    {
        await users.SetLockoutEndDateAsync(user, null);
        await users.ResetAccessFailedCountAsync(user);
    }

    /// <summary>
    /// Runs a members check-and-change in one serializable transaction and saves it unless it returns a refusal. Two
    /// admins demoting each other at once would each count two admins under weaker isolation (write skew); here
    /// PostgreSQL fails one of them (40001) and SQLite runs them one after the other, and the retry sees the other's change.
    /// </summary>
    private async Task<string?> GuardedAsync(Func<KeystoneDbContext, Task<string?>> change, CancellationToken ct)
    {
        try
        {
            return await WriteConflicts.RetryAsync(async () =>
            {
                await using var db = await dbFactory.CreateDbContextAsync(ct);
                await using var tx = await db.Database.BeginTransactionAsync(IsolationLevel.Serializable, ct);
                var refusal = await change(db);
                if (refusal is null)
                {
                    await db.SaveChangesAsync(ct);
                    await tx.CommitAsync(ct);
                }

                return refusal;
            });
        }
        catch (Exception ex) when (WriteConflicts.IsConflict(ex))
        {
            return "Someone else changed this tenant's members at the same moment; nothing was changed. Look at the list and try again.";
        }
    }

    private Guid RequireTenant() => tenant.TenantId
        ?? throw new InvalidOperationException("Members are managed inside one tenant; switch into a tenant first.");

    /// <summary>
    /// A password the Identity policy accepts every time: 16 random characters alone leave out a digit in about one
    /// draw in thirteen ((46/54)^16), and adding that member then failed. "Ks" gives the upper and lower case, the
    /// last character the digit.
    /// </summary>
    internal static string TemporaryPassword()
    {
        const string alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
        return "Ks-" + RandomNumberGenerator.GetString(alphabet, 16) + RandomNumberGenerator.GetString("23456789", 1);
    }
}
