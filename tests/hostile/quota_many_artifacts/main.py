def execute(input_data, context):
    saved = refused = 0
    for i in range(int(input_data.get("count", 3000))):
        try:
            context.save_artifact(f"a{i}.txt", f"artifact {i}")
            saved += 1
        except Exception:  # the skill swallows the refusal: the attempt must still fail
            refused += 1
    return {"saved": saved, "refused": refused}
