"""Catalogue of wrong training loops for exercise 05's ``check_dqn_loop``.

Each entry is the solution loop with one mistake learners make; each must fail the check with a
``CheckError`` (never a raw exception) whose message holds the key phrase. The loop runs a few hundred
updates of a tiny problem, so each entry takes one or two seconds.
"""

import pytest
import torch
from torch.nn import functional as F

from dqngen_lib.nets import epsilon_greedy
from dqngen_lib.checks import CheckError, check_dqn_loop
from dqngen_lib.checks import ex05_loop


def _targets(qnet, target_net, batch, gamma, keep=True, double=True, grad=False, online=False):
    ctx = torch.enable_grad() if grad else torch.no_grad()
    with ctx:
        evaluator = qnet if online else target_net
        q_next = evaluator(batch.next_obs)
        if double:
            v = q_next.gather(1, qnet(batch.next_obs).argmax(dim=1, keepdim=True)).squeeze(1)
        else:
            v = q_next.max(dim=1).values
        return batch.rewards + gamma * ((1.0 - batch.terminated) if keep else 1.0) * v


def _loss(qnet, target_net, batch, gamma, kind="huber", **kw):
    q = qnet(batch.obs).gather(1, batch.actions[:, None]).squeeze(1)
    y = _targets(qnet, target_net, batch, gamma, **kw)
    if kind == "mse":
        return F.mse_loss(q, y)
    if kind == "sum":
        return F.smooth_l1_loss(q, y, reduction="sum")
    return F.smooth_l1_loss(q, y)


def make_loop(**bug):
    """The solution loop, with the mistake named by ``bug``."""
    def loop(env, qnet, target_net, optimizer, buffer, act_gen, replay_gen, *, steps, batch_size, gamma, epsilon,
             learning_starts, target_period):
        losses = []
        opt = torch.optim.Adam(qnet.parameters(), lr=1e-3) if bug.get("own_optimizer") else optimizer
        obs = env.reset()
        n = k = 0
        eps_once = epsilon(0)
        while (k if bug.get("count_batched") else n) < steps:
            if bug.get("eps") == "never":
                eps = epsilon(0)
            elif bug.get("eps") == "batched":
                eps = epsilon(k)
            elif bug.get("eps") == "updates":
                eps = epsilon(len(losses))
            elif bug.get("eps") == "once":
                eps = eps_once
            elif bug.get("eps") == "inverted":
                eps = 1.0 - epsilon(n)
            elif bug.get("eps") == "greedy":
                epsilon(n)
                eps = 0.0
            else:
                eps = epsilon(n)
            if bug.get("eps_after_increment"):
                eps = epsilon(n + env.num_envs)
            gen = None if bug.get("global_rng_actions") else act_gen
            if bug.get("manual_eps"):
                with torch.no_grad():
                    greedy = qnet(obs).argmax(dim=1)
                explore = torch.rand(env.num_envs, generator=act_gen) < eps
                actions = torch.where(explore, torch.randint(env.num_actions, (env.num_envs,), generator=act_gen),
                                      greedy)
            else:
                with torch.no_grad():
                    actions = epsilon_greedy(qnet(obs), eps, gen)
            next_obs, reward, terminated, truncated, _ = env.step(actions)
            done = terminated if bug.get("terminated_only") else terminated | truncated
            stored_actions = qnet(obs).argmax(dim=1).detach() if bug.get("store_greedy") else actions
            if bug.get("scaled_rewards"):
                reward = reward * 10
            if bug.get("obs_overwritten"):
                obs = next_obs
            if bug.get("swapped"):
                buffer.add(next_obs, stored_actions, reward, obs, done)
            elif bug.get("reset_next_obs"):
                next_obs = env.reset_done(done)
                buffer.add(obs, stored_actions, reward, next_obs, done)
            else:
                buffer.add(obs, stored_actions, reward, next_obs, done)
            if bug.get("no_reset"):
                obs = next_obs
            elif bug.get("reset_next_obs"):
                obs = next_obs
            else:
                obs = env.reset_done(done)
            n += env.num_envs
            k += 1
            if n >= learning_starts or bug.get("no_learning_starts"):
                for _ in range(2 if bug.get("two_updates") else 1):
                    if bug.get("sync_before_step") and losses and len(losses) % target_period == 0:
                        target_net.load_state_dict(qnet.state_dict())
                    sample_gen = {"none": None, "act": act_gen, "new": torch.Generator().manual_seed(2)}.get(
                        bug.get("sample_gen"), replay_gen)
                    batch = buffer.sample(batch_size, sample_gen)
                    loss = _loss(qnet, target_net, batch, 0.99 if bug.get("gamma_099") else gamma,
                                 kind=bug.get("loss", "huber"), keep=not bug.get("no_done_factor"),
                                 double=not bug.get("plain"), grad=bool(bug.get("grad_into_target")),
                                 online=bool(bug.get("online_targets")))
                    if bug.get("module_zero_grad"):
                        qnet.zero_grad(set_to_none=False)
                    elif not bug.get("no_zero_grad") and not bug.get("zero_grad_late"):
                        opt.zero_grad()
                    loss.backward()
                    if bug.get("zero_grad_late"):
                        opt.zero_grad()
                    if bug.get("clip"):
                        torch.nn.utils.clip_grad_norm_(qnet.parameters(), 0.05)
                    opt.step()
                    losses.append(loss.detach() if bug.get("tensor_losses") else loss.item())
                    if bug.get("sync_before_step"):
                        continue
                    period = 100 if bug.get("period_100") else target_period
                    if bug.get("soft"):
                        with torch.no_grad():
                            for pt, p in zip(target_net.parameters(), qnet.parameters()):
                                pt.lerp_(p, 0.05)
                    elif bug.get("sync_every_update"):
                        target_net.load_state_dict(qnet.state_dict())
                    elif not bug.get("never_sync") and len(losses) % period == 0:
                        target_net.load_state_dict(qnet.state_dict())
        if bug.get("no_return"):
            return None
        if bug.get("returns_sum"):
            return sum(losses)
        return losses
    loop.__name__ = "loop_" + "_".join(f"{k}" if v is True else f"{k}_{v}" for k, v in bug.items()) if bug else "loop"
    return loop


def stub(*args, **kwargs):
    raise NotImplementedError("exercise: replace this line with your code")


SOLUTION = make_loop()

CATALOGUE = [
    (dict(no_zero_grad=True), "no zero_grad: gradients accumulate", "add up over the updates"),
    (dict(zero_grad_late=True), "zero_grad between backward and step", "cleared between loss.backward"),
    (dict(never_sync=True), "the target network never updated", "the target network never changed"),
    (dict(sync_every_update=True), "the target copied after every update", "before every update"),
    (dict(soft=True), "a soft update instead of a hard copy", "moved but never became a copy"),
    (dict(period_100=True), "target period hard-coded to 100", r"copy of the online network before updates \[101\]"),
    (dict(grad_into_target=True), "targets computed with gradient", "gradients flowed into the target network"),
    (dict(eps="never"), "epsilon(0) at every step", "ε never decays"),
    (dict(eps="once"), "ε computed once before the loop", "ε never decays"),
    (dict(eps="batched"), "epsilon(batched steps)", "ε decays 16 times too slowly"),
    (dict(eps="updates"), "epsilon(updates so far)", r"ε decays about \d+ times too slowly: .*, the number of updates"),
    (dict(eps="greedy"), "ε asked for but not used (greedy)", "the actions are not ε-greedy"),
    (dict(eps="inverted"), "random with probability 1 - ε", "the actions are not ε-greedy"),
    (dict(global_rng_actions=True), "ε-greedy without act_gen", "act_gen was never used"),
    (dict(obs_overwritten=True), "obs = next_obs before storing", "the same observation"),
    (dict(swapped=True), "obs and next_obs swapped", "obs and next_obs are swapped"),
    (dict(reset_next_obs=True), "stores reset_done's observation as next_obs", "first observation of the \\*next\\*"),
    (dict(no_reset=True), "never restarts finished canvases", "never restarted"),
    (dict(terminated_only=True), "done = terminated (never true in pixel mode)", "stored with done = 0"),
    (dict(store_greedy=True), "stores the greedy actions, not those taken", "does not turn the stored obs"),
    (dict(scaled_rewards=True), "stores rewards x 10", "the stored reward is"),
    (dict(no_done_factor=True), "the (1 - done) factor forgotten in the loss", r"the \(1 - done\) factor is missing"),
    (dict(sample_gen="none"), "buffer.sample without a generator", "called without a generator"),
    (dict(sample_gen="act"), "buffer.sample with act_gen", "called with act_gen"),
    (dict(sample_gen="new"), "buffer.sample with a new generator", "other than replay_gen"),
    (dict(no_learning_starts=True), "updates from the first step", "with only 16 transitions stored"),
    (dict(two_updates=True), "two updates per batched step", "370 updates"),
    (dict(own_optimizer=True), "a new optimizer inside the loop", "no optimizer step"),
    (dict(count_batched=True), "steps counted in batched steps", "went on past steps = 3,200"),
    (dict(loss="mse"), "squared error instead of Huber", "the squared error instead of the Huber loss"),
    (dict(loss="sum"), "summed loss", "summed over the minibatch"),
    (dict(plain=True), "plain DQN targets", "plain DQN targets"),
    (dict(online_targets=True), "targets from the online network", "the targets come from the online network, not"),
    (dict(gamma_099=True), "gamma hard-coded to 0.99", "gamma = 0.99 instead of the gamma argument"),
    (dict(no_return=True), "forgets to return the losses", "returned None"),
    (dict(returns_sum=True), "returns the sum of the losses", "returned float; expected a list"),
]


ACCEPTED = [
    dict(clip=True),                 # clipping the gradient norm (the lesson's loop does)
    dict(module_zero_grad=True),     # qnet.zero_grad(set_to_none=False) instead of optimizer.zero_grad()
    dict(manual_eps=True),           # ε-greedy written out, coin flips first
    dict(eps_after_increment=True),  # epsilon(n) asked after counting the step
    dict(sync_before_step=True),     # the copy made at the start of the next update, before its loss
    dict(tensor_losses=True),        # losses kept as detached tensors
]


@pytest.mark.parametrize("variant", [pytest.param(v, id=make_loop(**v).__name__) for v in ACCEPTED])
def test_other_correct_loops_pass(variant, capsys):
    check_dqn_loop(make_loop(**variant))
    assert capsys.readouterr().out.startswith("OK")


def test_solution_passes_with_a_small_budget(capsys):
    """The check's cost is its step budget (no wall-clock bound here: speed lives in `dqngen bench`)."""
    check_dqn_loop(SOLUTION)
    out = capsys.readouterr().out
    assert out.startswith("OK: the loop took 3,200 steps and 185 updates")


def test_stub_fails():
    with pytest.raises(CheckError, match="dqn_loop is not implemented yet"):
        check_dqn_loop(stub)


def test_a_loop_that_does_not_learn_enough_fails(monkeypatch):
    monkeypatch.setattr(ex05_loop, "_MIN_RETURN", 0.9)
    with pytest.raises(CheckError, match=r"the greedy painter removes 0\.\d+ of the error .*expected above 0.9"):
        check_dqn_loop(SOLUTION)


@pytest.mark.parametrize("bug, mistake, phrase",
                         [pytest.param(b, m, p, id=make_loop(**b).__name__) for b, m, p in CATALOGUE])
def test_wrong_loop_fails_with_a_clear_message(bug, mistake, phrase):
    with pytest.raises(CheckError, match=phrase):
        check_dqn_loop(make_loop(**bug))
