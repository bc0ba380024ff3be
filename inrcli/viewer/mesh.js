// Shapes: the surface the server extracted once from the decoded field (marching cubes, the
// same as `inr decode shape.safetensors -o shape.ply`), drawn with WebGL2 and orbited by
// dragging; the wheel zooms.

import { el, formatInt } from "./ui.js";

const VERTEX = `#version 300 es
  in vec3 position; in vec3 normal;
  uniform mat4 u_matrix; uniform mat3 u_rotation;
  out vec3 v_normal;
  void main() { v_normal = u_rotation * normal; gl_Position = u_matrix * vec4(position, 1.0); }`;
const FRAGMENT = `#version 300 es
  precision highp float;
  in vec3 v_normal; out vec4 colour;
  void main() {
    vec3 n = normalize(v_normal);
    float light = 0.25 + 0.75 * abs(dot(n, normalize(vec3(0.4, 0.6, 0.7))));
    colour = vec4(vec3(0.55, 0.7, 0.9) * light, 1.0);
  }`;

/** Per-vertex normals: the sum of the adjacent faces' area-weighted normals. */
function vertexNormals(vertices, faces) {
  const normals = new Float32Array(vertices.length);
  for (let f = 0; f < faces.length; f += 3) {
    const [a, b, c] = [faces[f] * 3, faces[f + 1] * 3, faces[f + 2] * 3];
    const u = [0, 1, 2].map((k) => vertices[b + k] - vertices[a + k]);
    const v = [0, 1, 2].map((k) => vertices[c + k] - vertices[a + k]);
    const n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
    for (const i of [a, b, c]) for (let k = 0; k < 3; k++) normals[i + k] += n[k];
  }
  return normals;
}

function rotation(yaw, pitch) {
  const [cy, sy, cp, sp] = [Math.cos(yaw), Math.sin(yaw), Math.cos(pitch), Math.sin(pitch)];
  return [cy, sy * sp, -sy * cp, 0, cp, sp, sy, -cy * sp, cy * cp]; // column-major 3×3
}

export class MeshView {
  constructor(ctx) {
    Object.assign(this, ctx);
    this.yaw = 0.6;
    this.pitch = 0.3;
    this.distance = 1;
    this.pane = el("div", { class: "pane" }, [el("span", { class: "label" }, ["surface of the decoded field"]), this.glCanvas]);
    this.stage.append(this.pane);
    this.ready = this.load();
  }

  async load() {
    if (!this.gl) {
      this.pane.append(el("p", {}, ["This view needs WebGL2."]));
      return;
    }
    const response = await fetch(this.entry.mesh);
    if (!response.ok) throw new Error(`the server could not extract a surface: ${(await response.text()).trim()}`);
    const mesh = await response.json();
    const vertices = Float32Array.from(mesh.vertices), faces = Uint32Array.from(mesh.faces);
    this.controls.append(el("h3", {}, ["surface"]), el("div", {}, [`${formatInt(vertices.length / 3)} vertices, ${formatInt(faces.length / 3)} faces (marching cubes on the server)`]));
    const gl = this.gl;
    const program = gl.createProgram();
    for (const [type, source] of [[gl.VERTEX_SHADER, VERTEX], [gl.FRAGMENT_SHADER, FRAGMENT]]) {
      const shader = gl.createShader(type);
      gl.shaderSource(shader, source);
      gl.compileShader(shader);
      gl.attachShader(program, shader);
    }
    gl.linkProgram(program);
    this.program = program;
    this.vao = gl.createVertexArray();
    gl.bindVertexArray(this.vao);
    for (const [name, data] of [["position", vertices], ["normal", vertexNormals(vertices, faces)]]) {
      gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
      gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
      const at = gl.getAttribLocation(program, name);
      gl.enableVertexAttribArray(at);
      gl.vertexAttribPointer(at, 3, gl.FLOAT, false, 0, 0);
    }
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, faces, gl.STATIC_DRAW);
    this.count = faces.length;
    this.attachPointer();
    new ResizeObserver(() => this.render()).observe(this.stage);
  }

  attachPointer() {
    let drag = null;
    const canvas = this.glCanvas;
    canvas.addEventListener("pointerdown", (e) => { canvas.setPointerCapture(e.pointerId); drag = [e.offsetX, e.offsetY, this.yaw, this.pitch]; });
    canvas.addEventListener("pointermove", (e) => {
      if (!drag) return;
      this.yaw = drag[2] + (e.offsetX - drag[0]) * 0.01;
      this.pitch = Math.max(-1.5, Math.min(1.5, drag[3] + (e.offsetY - drag[1]) * 0.01));
      this.render();
    });
    canvas.addEventListener("pointerup", () => { drag = null; });
    canvas.addEventListener("wheel", (e) => { e.preventDefault(); this.distance *= Math.exp(e.deltaY * 0.001); this.render(); }, { passive: false });
  }

  render() {
    if (!this.program) return;
    const gl = this.gl, canvas = this.glCanvas;
    canvas.width = this.pane.clientWidth || 640;
    canvas.height = this.pane.clientHeight || 480;
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(0.09, 0.1, 0.11, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    gl.useProgram(this.program);
    const r = rotation(this.yaw, this.pitch);
    const aspect = canvas.width / canvas.height, s = 1 / (1.2 * this.distance);
    const [sx, sy] = aspect > 1 ? [s / aspect, s] : [s, s * aspect];
    // orthographic: rotate, scale to the view, depth from the rotated z (the shape lies in the unit cube)
    const m = [r[0] * sx, r[1] * sy, -r[2] * s * 0.5, 0, r[3] * sx, r[4] * sy, -r[5] * s * 0.5, 0,
      r[6] * sx, r[7] * sy, -r[8] * s * 0.5, 0, 0, 0, 0, 1];
    gl.uniformMatrix4fv(gl.getUniformLocation(this.program, "u_matrix"), false, m);
    gl.uniformMatrix3fv(gl.getUniformLocation(this.program, "u_rotation"), false, r);
    gl.bindVertexArray(this.vao);
    gl.drawElements(gl.TRIANGLES, this.count, gl.UNSIGNED_INT, 0);
  }
}
