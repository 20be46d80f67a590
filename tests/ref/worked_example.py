#!/usr/bin/python3
"""Independent numpy computation of the course notes' 4-step RNN (tests/test_worked_example.c).
Prints h_t, yhat_t, L_t, L and dL/dW_xh, dL/dW_hh (full BPTT and the notes' direct-term
formula), dL/dW_hy, to 12 significant digits; the C test holds these numbers."""
import numpy as np
np.set_printoptions(precision=12, floatmode='maxprec')
X = np.array([[0.5, 0.1, -0.3], [-0.2, 0.4, 0.3], [0.1, -0.5, 0.2], [0.4, 0.2, -0.1]])
Y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], float)
Wxh = np.array([[0.2, -0.3], [0.4, 0.1], [-0.5, 0.2]])
Whh = np.array([[0.6, -0.2], [0.1, 0.5]])
Why = np.array([[0.3, -0.7], [-0.5, 0.8]])
h = np.zeros(2); H = []; Yh = []; L = []
for t in range(4):
    h = np.tanh(X[t] @ Wxh + h @ Whh); H.append(h)
    yh = Why @ h; Yh.append(yh); L.append(0.5 * np.sum((Y[t] - yh) ** 2))
print("h", np.array(H).tolist()); print("yhat", np.array(Yh).tolist())
print("L_t", L); print("L", sum(L))
# full BPTT
dWxh = np.zeros_like(Wxh); dWhh = np.zeros_like(Whh); dWhy = np.zeros_like(Why)
dh_next = np.zeros(2)
for t in reversed(range(4)):
    d = Yh[t] - Y[t]                      # delta_t
    dWhy += np.outer(d, H[t])             # sum_t delta_t h_t^T (exact)
    dh = Why.T @ d + dh_next
    dz = dh * (1 - H[t] ** 2)
    hp = H[t - 1] if t > 0 else np.zeros(2)
    dWxh += np.outer(X[t], dz); dWhh += np.outer(hp, dz)
    dh_next = Whh @ dz
# the notes' formula: only the direct term of each step
dWhh_notes = np.zeros_like(Whh)
for t in range(4):
    dz = (Why.T @ (Yh[t] - Y[t])) * (1 - H[t] ** 2)
    hp = H[t - 1] if t > 0 else np.zeros(2)
    dWhh_notes += np.outer(hp, dz)
print("dWxh", dWxh.tolist()); print("dWhh", dWhh.tolist()); print("dWhh_notes", dWhh_notes.tolist())
print("dWhy", dWhy.tolist())
