namespace RaftKv.StateMachine.Tests;

/// <summary>
/// The session table against the obvious model (expire every session whose last activity is older than the timeout),
/// over random registers, touches, clock moves (forward and, as a new leader's may, backward) and capture/load round
/// trips: the same sessions live, with the same states, in the same captured bytes.
/// </summary>
public sealed class SessionTableTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Expiry_matches_the_model_whatever_order_sessions_are_touched_in(int seed)
    {
        var random = new Random(seed);
        var table = new SessionTable();
        var model = new Dictionary<ulong, SessionState>();
        long modelClock = long.MinValue;
        const long timeout = 1_000;
        long now = 0;
        ulong nextId = 1;
        for (int step = 0; step < 20_000; step++)
        {
            // The clock mostly moves forward by a little, sometimes stands still or goes back (ignored).
            now += random.Next(10) switch { 0 => -random.Next(300), 1 => 0, _ => random.Next(40) };
            table.AdvanceClock(now, timeout);
            modelClock = Math.Max(modelClock, now);
            foreach (ulong expired in model.Where(p => modelClock - timeout > p.Value.LastActiveMs).Select(p => p.Key).ToList()) model.Remove(expired);

            int action = random.Next(10);
            if (action < 2 || model.Count == 0)
            {
                table.Register(nextId);
                model[nextId] = new SessionState(0, modelClock, []);
                nextId++;
            }
            else
            {
                ulong id = model.Keys.ElementAt(random.Next(model.Count));
                if (action < 6)
                {
                    table.Update(id);
                    model[id] = model[id] with { LastActiveMs = modelClock };
                }
                else
                {
                    byte[] reply = [(byte)step];
                    table.Update(id, model[id].LastSequence + 1, reply);
                    model[id] = new SessionState(model[id].LastSequence + 1, modelClock, reply);
                }
            }

            Assert.Equal(model.Count, table.Count);
            if (step % 500 == 0)
            {
                foreach (var (id, expected) in model)
                {
                    Assert.True(table.TryGet(id, out var actual));
                    Assert.Equal(expected.LastSequence, actual.LastSequence);
                    Assert.Equal(expected.LastActiveMs, actual.LastActiveMs);
                }
                // A table loaded from a capture behaves the same from then on.
                SessionTableImage image = table.Capture();
                Assert.Equal(model.Keys.Order(), image.Sessions.Select(s => s.Id));
                var reloaded = new SessionTable();
                reloaded.Load(image);
                Assert.Equal(Encode(image), Encode(reloaded.Capture()));
                table = reloaded;
            }
        }
    }

    private static byte[] Encode(SessionTableImage image)
    {
        using var buffer = new MemoryStream();
        SessionTable.WriteTo(image, buffer);
        return buffer.ToArray();
    }
}
