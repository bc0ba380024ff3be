/* One squared-error training step of Local-Global SIREN rows, fused: the forward pass, the
 * error and the backward pass of a tile of T samples run back to back, so a tile's activations
 * (~1.4 kB per sample) stay in the core's L2 cache instead of streaming through memory as the
 * layer-at-a-time torch pass does.  Built and loaded by inrcli.native; wrapped for autograd by
 * inrcli.models.local_global_step, whose docstrings give the shapes.
 *
 * Every layer's weight carries its bias as its last column, as in local_global_pass.py:
 *   first  (R, w+g, d+1)   local and global first layers (not ω0-scaled: fw0 multiplies the sum)
 *   merge  (R, w, w+g+1)   ω0-scaled, reused at every depth
 *   outw   (R, od, w+1)    linear
 *   local[k] (R, w, w+1), glob[k] (R, g, g+1), k < H: hidden layers, ω0-scaled
 * coords (coord_rows, d+1, n) (row r reads coords row r % coord_rows; its last row, the ones, is
 * not read), targets (R, od, n).  Writes sse[r] = Σ (y − target)² and, for every weight, the
 * gradient of Σ_r sse[r], shaped as the weight.
 *
 * Compiled with -ffast-math so that sums over samples vectorise; linked without it (a -ffast-math
 * link would set flush-to-zero for the whole process). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define C 64  /* samples per register block of a product (T is a multiple) */
#define OB 4  /* outputs per register block of a product */
#define V 16  /* lanes of a gradient's partial sums */

/* y (O×T) = scale · (W[:, :I] x + W[:, I] if bias); W (O, ldw), x (I×T) */
static void product(const float *restrict W, int ldw, int O, int I, int bias, const float *restrict x,
                    float *restrict y, float scale, const int T) {
  for (int c0 = 0; c0 < T; c0 += C) {
    int o = 0;
    for (; o + OB <= O; o += OB) {
      float acc[OB][C];
      for (int j = 0; j < OB; j++) {
        float b = bias ? W[(o + j) * ldw + I] : 0.f;
        for (int t = 0; t < C; t++) acc[j][t] = b;
      }
      for (int i = 0; i < I; i++) {
        const float *xi = x + i * T + c0;
        for (int j = 0; j < OB; j++) {
          float wi = W[(o + j) * ldw + i];
          for (int t = 0; t < C; t++) acc[j][t] += wi * xi[t];
        }
      }
      for (int j = 0; j < OB; j++)
        for (int t = 0; t < C; t++) y[(o + j) * T + c0 + t] = acc[j][t] * scale;
    }
    for (; o < O; o++) {
      float acc[C];
      float b = bias ? W[o * ldw + I] : 0.f;
      for (int t = 0; t < C; t++) acc[t] = b;
      for (int i = 0; i < I; i++) {
        float wi = W[o * ldw + i];
        const float *xi = x + i * T + c0;
        for (int t = 0; t < C; t++) acc[t] += wi * xi[t];
      }
      for (int t = 0; t < C; t++) y[o * T + c0 + t] = acc[t] * scale;
    }
  }
}

/* part[o][i] (V lanes) += a[o] · b[i] over the tile, for one (o, i) */
static void gradient_pair(float *restrict part, const float *restrict ao, const float *restrict bi, const int T) {
  float s[V] = {0};
  for (int c = 0; c < T; c += V)
    for (int l = 0; l < V; l++) s[l] += ao[c + l] * bi[c + l];
  for (int l = 0; l < V; l++) part[l] += s[l];
}

/* part (O, I+1, V) += lane partials of a (O×T) · [b (I×T); ones]ᵀ: a weight's gradient over one
 * tile, in 4×4 register blocks; summed over the lanes once per row (reduce) */
static void gradient(float *restrict part, int O, int I, const float *restrict a, const float *restrict b,
                     const float *restrict ones, const int T) {
#define ROW(i) ((i) < I ? b + (long)(i) * T : ones)
  int I1 = I + 1, o = 0;
  for (; o + 4 <= O; o += 4) {
    int i = 0;
    for (; i + 4 <= I1; i += 4) {
      const float *b0 = ROW(i), *b1 = ROW(i + 1), *b2 = ROW(i + 2), *b3 = ROW(i + 3);
      const float *a0 = a + (long)o * T, *a1 = a0 + T, *a2 = a1 + T, *a3 = a2 + T;
      float acc[4][4][V] = {{{0}}};
      for (int c = 0; c < T; c += V) {
        for (int l = 0; l < V; l++) {
          float x0 = a0[c + l], x1 = a1[c + l], x2 = a2[c + l], x3 = a3[c + l];
          float y0 = b0[c + l], y1 = b1[c + l], y2 = b2[c + l], y3 = b3[c + l];
          acc[0][0][l] += x0 * y0; acc[0][1][l] += x0 * y1; acc[0][2][l] += x0 * y2; acc[0][3][l] += x0 * y3;
          acc[1][0][l] += x1 * y0; acc[1][1][l] += x1 * y1; acc[1][2][l] += x1 * y2; acc[1][3][l] += x1 * y3;
          acc[2][0][l] += x2 * y0; acc[2][1][l] += x2 * y1; acc[2][2][l] += x2 * y2; acc[2][3][l] += x2 * y3;
          acc[3][0][l] += x3 * y0; acc[3][1][l] += x3 * y1; acc[3][2][l] += x3 * y2; acc[3][3][l] += x3 * y3;
        }
      }
      for (int j = 0; j < 4; j++)
        for (int k = 0; k < 4; k++) {
          float *p = part + ((long)(o + j) * I1 + i + k) * V;
          for (int l = 0; l < V; l++) p[l] += acc[j][k][l];
        }
    }
    for (; i < I1; i++)
      for (int j = 0; j < 4; j++) gradient_pair(part + ((long)(o + j) * I1 + i) * V, a + (long)(o + j) * T, ROW(i), T);
  }
  for (; o < O; o++)
    for (int i = 0; i < I1; i++) gradient_pair(part + ((long)o * I1 + i) * V, a + (long)o * T, ROW(i), T);
#undef ROW
}

static void reduce(float *restrict g, const float *restrict part, long count, float scale) {
  for (long k = 0; k < count; k++) {
    float s = 0.f;
    for (int l = 0; l < V; l++) s += part[k * V + l];
    g[k] = s * scale;
  }
}

/* sin and cos of one phase: a reduction by π/2 in three parts (Cody & Waite: q·P1 and q·P2 are
 * exact for |q| < 2^16), Taylor polynomials on [−π/4, π/4] (error < 4e-8 there), and the
 * quadrant's swap and signs; branch-free, so a loop of it vectorises.  Valid for |z| ≤ SINCOS_LIMIT. */
#define SINCOS_LIMIT 65536.f
static inline void sincos_reduced(float z, float *restrict s, float *restrict c) {
  const float q = rintf(z * 0.636619772f);
  const int quadrant = (int)q;
  float r = fmaf(-q, 1.5703125f, z);
  r = fmaf(-q, 4.837512969970703125e-4f, r);
  r = fmaf(-q, 7.54978995489188216e-8f, r);
  const float r2 = r * r;
  const float sr = r + r * r2 * (-1.66666667e-1f + r2 * (8.33333333e-3f + r2 * (-1.98412698e-4f + r2 * 2.75573192e-6f)));
  const float cr = 1.f + r2 * (-0.5f + r2 * (4.16666667e-2f + r2 * (-1.38888889e-3f + r2 * 2.48015873e-5f)));
  const float sv = (quadrant & 1) ? cr : sr, cv = (quadrant & 1) ? sr : cr;
  *s = (quadrant & 2) ? -sv : sv;
  *c = ((quadrant + 1) & 2) ? -cv : cv;
}

/* y (F×T) = sin(z); z = cos(z), in place: the backward pass multiplies by it (a sine's derivative) */
static void sines_keeping_cosines(float *restrict y, float *restrict z, int F, const int T) {
  const long count = (long)F * T;
  float largest = 0.f;
  for (long k = 0; k < count; k++) largest = fmaxf(largest, fabsf(z[k]));
  if (!(largest <= SINCOS_LIMIT)) { /* huge phases (or NaN): glibc's full range reduction */
    for (long k = 0; k < count; k++) {
      y[k] = sinf(z[k]);
      z[k] = cosf(z[k]);
    }
    return;
  }
  for (long k = 0; k < count; k++) {
    float s, c;
    sincos_reduced(z[k], &s, &c);
    y[k] = s;
    z[k] = c;
  }
}

/* d (F×T) *= cosine (F×T): the gradient through a sine, its cosine kept by the forward pass */
static void through_sine(float *restrict d, const float *restrict cosine, int F, const int T) {
  for (long k = 0; k < (long)F * T; k++) d[k] *= cosine[k];
}

/* wt (I, O) = W[:, :I]ᵀ for a weight W (O, ldw) */
static void transpose(float *restrict wt, const float *restrict W, int O, int I, int ldw) {
  for (int o = 0; o < O; o++)
    for (int i = 0; i < I; i++) wt[i * O + o] = W[o * ldw + i];
}

/* A bump allocator over one 64-byte-aligned block (every piece is a multiple of 16 floats). */
typedef struct { float *next; } Arena;
static float *take(Arena *arena, long floats) {
  float *piece = arena->next;
  arena->next += (floats + 15) / 16 * 16;
  return piece;
}

/* Rows r0 ≤ r < r1 in tiles of T samples.  Called with T a constant (lg_mse_rows), which GCC's
 * -O3 propagates into a copy per tile size: the loops over a tile are of known length. */
static int mse_rows(const int T, int r0, int r1, int n, int d, int w, int g, int od, int H, float fw0, int coord_rows,
                const float *coords, const float *targets, const float *first, const float *merge,
                const float *outw, const float **local, const float **glob, float *sse, float *gfirst,
                float *gmerge, float *gout, float **glocal, float **gglob) {
  const int wg = w + g;
  const long sf = (long)wg * (d + 1), sm = (long)w * (wg + 1), so = (long)od * (w + 1), sl = (long)w * (w + 1),
             sg = (long)g * (g + 1);
  const long pieces = 12 + 5L * (H + 1) + 4L * H; /* each rounded up to 16 floats by take() */
  long floats = (long)T * (d + 1 + wg + od + w + wg + g) + (long)wg * w + (long)w * od + V * (sf + sm + so) +
                (long)(H + 1) * T * (wg + 3L * w + g) + (long)H * ((long)w * w + (long)g * g + V * (sl + sg)) +
                16 * pieces;
  void *block = aligned_alloc(64, (size_t)((floats * sizeof(float) + 63) / 64 * 64));
  float **pointers = malloc(sizeof(float *) * (size_t)(9 * (H + 1)));
  if (!block || !pointers) {
    free(block);
    free(pointers);
    return -1;
  }
  Arena arena = {block};
  float *x = take(&arena, (long)T * d), *ones = take(&arena, T), *z0 = take(&arena, (long)T * wg);
  float *y = take(&arena, (long)T * od), *dm = take(&arena, (long)T * w), *dboth = take(&arena, (long)T * wg);
  float *dglob = take(&arena, (long)T * g), *mt = take(&arena, (long)wg * w), *ot = take(&arena, (long)w * od);
  float *pf = take(&arena, V * sf), *pm = take(&arena, V * sm), *po = take(&arena, V * so);
  float **both = pointers, **mz = both + H + 1, **m = mz + H + 1, **lz = m + H + 1, **gz = lz + H + 1;
  float **lt = gz + H + 1, **gt = lt + H + 1, **pl = gt + H + 1, **pg = pl + H + 1;
  for (int k = 0; k <= H; k++) {
    both[k] = take(&arena, (long)T * wg); /* [local; global]; the ones under them are implied */
    mz[k] = take(&arena, (long)T * w);
    m[k] = take(&arena, (long)T * w);
    lz[k] = take(&arena, (long)T * w);
    gz[k] = take(&arena, (long)T * g);
  }
  for (int k = 0; k < H; k++) {
    lt[k] = take(&arena, (long)w * w);
    gt[k] = take(&arena, (long)g * g);
    pl[k] = take(&arena, V * sl);
    pg[k] = take(&arena, V * sg);
  }
  for (int t = 0; t < T; t++) ones[t] = 1.f;

  for (int r = r0; r < r1; r++) {
    const float *F1 = first + r * sf, *M = merge + r * sm, *O = outw + r * so;
    const float *xr = coords + (long)(r % coord_rows) * (d + 1) * n, *tr = targets + (long)r * od * n;
    transpose(mt, M, w, wg, wg + 1);
    transpose(ot, O, od, w, w + 1);
    for (int k = 0; k < H; k++) {
      transpose(lt[k], local[k] + r * sl, w, w, w + 1);
      transpose(gt[k], glob[k] + r * sg, g, g, g + 1);
      memset(pl[k], 0, sizeof(float) * V * sl);
      memset(pg[k], 0, sizeof(float) * V * sg);
    }
    memset(pf, 0, sizeof(float) * V * sf);
    memset(pm, 0, sizeof(float) * V * sm);
    memset(po, 0, sizeof(float) * V * so);
    double error = 0.0;
    for (int t0 = 0; t0 < n; t0 += T) {
      const int count = n - t0 < T ? n - t0 : T; /* a last, partial tile: its padding gets no gradient */
      for (int i = 0; i < d; i++) {
        memcpy(x + (long)i * T, xr + (long)i * n + t0, sizeof(float) * (size_t)count);
        memset(x + (long)i * T + count, 0, sizeof(float) * (size_t)(T - count));
      }
      /* forward: [local; global] and the merge's output at every depth (a bias multiplies an implied 1) */
      product(F1, d + 1, wg, d, 1, x, z0, fw0, T);
      sines_keeping_cosines(both[0], z0, wg, T);
      for (int k = 0; k <= H; k++) {
        if (k) {
          product(local[k - 1] + r * sl, w + 1, w, w, 1, m[k - 1], lz[k], 1.f, T);
          product(glob[k - 1] + r * sg, g + 1, g, g, 1, both[k - 1] + (long)w * T, gz[k], 1.f, T);
          sines_keeping_cosines(both[k], lz[k], w, T);
          sines_keeping_cosines(both[k] + (long)w * T, gz[k], g, T);
        }
        product(M, wg + 1, w, wg, 1, both[k], mz[k], 1.f, T);
        sines_keeping_cosines(m[k], mz[k], w, T);
      }
      product(O, w + 1, od, w, 1, m[H], y, 1.f, T);
      /* the error, and its gradient 2 (y − target) in y's place */
      for (int c = 0; c < od; c++) {
        float *yc = y + (long)c * T;
        const float *tc = tr + (long)c * n + t0;
        for (int t = 0; t < count; t++) {
          float e = yc[t] - tc[t];
          error += (double)e * e;
          yc[t] = 2.f * e;
        }
        for (int t = count; t < T; t++) yc[t] = 0.f;
      }
      /* backward */
      gradient(po, od, w, y, m[H], ones, T);
      product(ot, od, w, od, 0, y, dm, 1.f, T);
      for (int k = H; k >= 0; k--) {
        through_sine(dm, mz[k], w, T);
        gradient(pm, w, wg, dm, both[k], ones, T);
        product(mt, w, wg, w, 0, dm, dboth, 1.f, T);
        if (k < H)
          for (long q = 0; q < (long)g * T; q++) dboth[(long)w * T + q] += dglob[q];
        if (k == 0) {
          through_sine(dboth, z0, wg, T);
          gradient(pf, wg, d, dboth, x, ones, T);
          break;
        }
        through_sine(dboth, lz[k], w, T);
        through_sine(dboth + (long)w * T, gz[k], g, T);
        gradient(pl[k - 1], w, w, dboth, m[k - 1], ones, T);
        gradient(pg[k - 1], g, g, dboth + (long)w * T, both[k - 1] + (long)w * T, ones, T);
        product(lt[k - 1], w, w, w, 0, dboth, dm, 1.f, T);
        product(gt[k - 1], g, g, g, 0, dboth + (long)w * T, dglob, 1.f, T);
      }
    }
    sse[r] = (float)error;
    reduce(gfirst + r * sf, pf, sf, fw0);
    reduce(gmerge + r * sm, pm, sm, 1.f);
    reduce(gout + r * so, po, so, 1.f);
    for (int k = 0; k < H; k++) {
      reduce(glocal[k] + r * sl, pl[k], sl, 1.f);
      reduce(gglob[k] + r * sg, pg[k], sg, 1.f);
    }
  }
  free(block);
  free(pointers);
  return 0;
}

/* The tile size for rows of n samples: 128, or 64 where that leaves less of the last tile empty
 * (a 512×512 image's training batch has 64 samples per partition). */
int lg_mse_tile(int n) {
  const long padded128 = (n + 127L) / 128 * 128, padded64 = (n + 63L) / 64 * 64;
  return padded64 < padded128 ? 64 : 128;
}

/* Rows r0 ≤ r < r1.  Returns 0, or −1 when its working memory (a few hundred kB) cannot be had. */
int lg_mse_rows(int r0, int r1, int n, int d, int w, int g, int od, int H, float fw0, int coord_rows,
                const float *coords, const float *targets, const float *first, const float *merge,
                const float *outw, const float **local, const float **glob, float *sse, float *gfirst,
                float *gmerge, float *gout, float **glocal, float **gglob) {
  if (lg_mse_tile(n) == 128)
    return mse_rows(128, r0, r1, n, d, w, g, od, H, fw0, coord_rows, coords, targets, first, merge, outw, local,
                    glob, sse, gfirst, gmerge, gout, glocal, gglob);
  return mse_rows(64, r0, r1, n, d, w, g, od, H, fw0, coord_rows, coords, targets, first, merge, outw, local, glob,
                  sse, gfirst, gmerge, gout, glocal, gglob);
}
