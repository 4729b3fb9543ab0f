using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace RaftKv.ClientGateway;

/// <summary>
/// Keeps a client's reset of its call from being logged as a server failure.
/// </summary>
/// <remarks>
/// When a client resets an HTTP/2 stream (it cancelled, or its deadline passed) while the server is still reading the
/// request, Kestrel fails the body read with an <see cref="IOException"/> at once but cancels
/// <see cref="HttpContext.RequestAborted"/> a moment later, from the thread pool. Grpc.AspNetCore logs an exception of
/// the handler at Information ("Service method canceled", event 28) if the call's token is already cancelled, and at
/// Error ("Error when executing service method", event 6) if not; which one wins is a race, and the busier the
/// server the more often it logs the Error (seen in chaos runs: tens per node and hour, for clients that merely gave
/// up). <see cref="AbortAwareBodyReader"/> lets the abort catch up before the read's exception surfaces.
/// </remarks>
public static class ClientResetOrdering
{
    /// <summary>How long a failed body read waits for the request's abort before it surfaces anyway.</summary>
    public static readonly TimeSpan AbortWait = TimeSpan.FromSeconds(1);

    /// <summary>Wraps every gRPC request's body reader in an <see cref="AbortAwareBodyReader"/>; add before routing.</summary>
    public static IApplicationBuilder UseClientResetAsCancellation(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        TimeProvider time = app.ApplicationServices.GetService<TimeProvider>() ?? TimeProvider.System;
        return app.Use((context, next) =>
        {
            if (context.Request.ContentType is { } type && type.StartsWith("application/grpc", StringComparison.Ordinal) &&
                context.Features.Get<IRequestBodyPipeFeature>() is { } body)
            {
                context.Features.Set<IRequestBodyPipeFeature>(new BodyFeature(new AbortAwareBodyReader(body.Reader, context.RequestAborted, AbortWait, time)));
            }
            return next(context);
        });
    }

    private sealed class BodyFeature(PipeReader reader) : IRequestBodyPipeFeature
    {
        public PipeReader Reader { get; } = reader;
    }
}

/// <summary>
/// A request body reader whose failed reads (<see cref="IOException"/>) surface only once the request's abort token is
/// cancelled, or after <c>abortWait</c> on <c>time</c> if it never is (a read that failed for another reason).
/// </summary>
public sealed class AbortAwareBodyReader(PipeReader inner, CancellationToken aborted, TimeSpan abortWait, TimeProvider time) : PipeReader
{
    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ValueTask<ReadResult> read;
        try
        {
            read = inner.ReadAsync(cancellationToken);
        }
        catch (IOException failure)
        {
            // Thrown rather than returned: the same wait as a read that fails later.
            read = ValueTask.FromException<ReadResult>(failure);
        }
        return read.IsCompletedSuccessfully ? read : AwaitReadAsync(read);
    }

    // Most reads wait for the client's bytes, so this runs once per request: pooled, it allocates no state machine.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> AwaitReadAsync(ValueTask<ReadResult> read)
    {
        try
        {
            return await read.ConfigureAwait(false);
        }
        catch (IOException) when (!aborted.IsCancellationRequested)
        {
            await WaitForAbortAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task WaitForAbortAsync()
    {
        try
        {
            await Task.Delay(abortWait, time, aborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The abort arrived: the caller now sees the call as cancelled.
        }
    }

    public override bool TryRead(out ReadResult result) => inner.TryRead(out result);

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);
}
