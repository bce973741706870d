using System.Linq.Expressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace Keystone.Gateway.Recording;

/// <summary>
/// What the recorder's row writers (<see cref="SqliteRowWriter"/>, <see cref="PostgresRowWriter"/>) read from the EF model
/// so that they store exactly what SaveChanges would: the columns they write and each column's provider value.
/// </summary>
internal static class ModelColumns
{
    /// <summary>The properties written by an insert: those with a CLR property and neither a database default nor computed SQL.</summary>
    public static List<IProperty> Writable(IEntityType type, StoreObjectIdentifier store) => type.GetProperties()
        .Where(p => p.GetDefaultValueSql(store) is null && p.GetComputedColumnSql(store) is null && p.PropertyInfo is not null)
        .ToList();

    /// <summary>The property's value converter (null when the provider takes the CLR value as it is).</summary>
    public static Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter? Converter(IProperty property) =>
        ((RelationalTypeMapping)property.GetRelationalTypeMapping()).Converter;

    /// <summary>
    /// Reads the property's provider value from an entity: a compiled getter (PropertyInfo.GetValue through reflection cost
    /// more per row than writing the value), then the model's value conversion.
    /// </summary>
    public static Func<object, object?> ProviderValue(IProperty property)
    {
        var converter = Converter(property);
        var row = Expression.Parameter(typeof(object), "row");
        var get = Expression.Lambda<Func<object, object?>>(
            Expression.Convert(Expression.Property(Expression.Convert(row, property.DeclaringType.ClrType), property.PropertyInfo!), typeof(object)), row).Compile();
        return converter is null ? get : r => get(r) is { } v ? converter.ConvertToProvider(v) : null;
    }
}
